package update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrHashMismatch is a download that completed with other bytes than the
// notice signed; the partial file is dropped, so the next try starts over.
var ErrHashMismatch = errors.New("the download's SHA-256 is not the one the notice signed")

// Fetch downloads url into path, resuming from path+".part" where an
// earlier try stopped (an HTTP Range request; a server that answers the
// whole file again is read from the start), and keeps it only when it is
// at most max bytes and its SHA-256 is wantSHA (hex). An interrupted try
// keeps what it received, synced, for the next. path's directory must
// exist. It returns the bytes received by this try.
func Fetch(ctx context.Context, c *http.Client, url, path, wantSHA string, max int64) (int64, error) {
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if have > max {
		have = 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("download URL %q: %w", url, err)
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0 && strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(have, 10)+"-"):
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		// Nothing after what we have: it may be whole already.
		return 0, finish(f, part, path, wantSHA)
	case resp.StatusCode == http.StatusOK:
		have = 0
	default:
		return 0, fmt.Errorf("download: %s answered %s", url, resp.Status)
	}
	if err := f.Truncate(have); err != nil {
		return 0, err
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return 0, err
	}
	if resp.ContentLength > 0 && have+resp.ContentLength > max {
		return 0, fmt.Errorf("download: %s is %d bytes; an update is at most %d", url, have+resp.ContentLength, max)
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, max-have+1))
	if have+n > max {
		f.Truncate(0)
		return n, fmt.Errorf("download: %s sent more than %d bytes; an update is at most that", url, max)
	}
	if err != nil {
		f.Sync()
		return n, fmt.Errorf("download interrupted after %d bytes (kept, resumed next try): %w", have+n, err)
	}
	return n, finish(f, part, path, wantSHA)
}

// finish checks the whole partial file's hash and renames it to path.
func finish(f *os.File, part, path, wantSHA string) error {
	if err := f.Sync(); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	got, err := readerSHA256(f)
	if err != nil {
		return err
	}
	if !strings.EqualFold(got, wantSHA) {
		f.Truncate(0)
		return fmt.Errorf("%w (got %s, want %s)", ErrHashMismatch, got, strings.ToLower(wantSHA))
	}
	if err := os.Rename(part, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}
