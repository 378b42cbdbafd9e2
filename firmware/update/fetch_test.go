package update

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// cutServer serves body with Range support (http.ServeContent); while
// cut is set, a response stops after that many bytes of the body by
// closing the connection, as a dropped link does.
type cutServer struct {
	body   []byte
	cut    atomic.Int64
	ranges atomic.Int64
	full   bool // answer every request with the whole file (no Range)
}

func (s *cutServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Range") != "" {
		s.ranges.Add(1)
	}
	if s.full {
		r.Header.Del("Range")
	}
	if n := s.cut.Load(); n > 0 {
		w = &cutWriter{ResponseWriter: w, left: n}
	}
	http.ServeContent(w, r, "outpost-firmware.bundle", time.Time{}, bytes.NewReader(s.body))
}

type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, _ := c.ResponseWriter.Write(p)
	c.left -= int64(n)
	if c.left <= 0 {
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drops the connection mid-body
	}
	return n, nil
}

// TestFetchResumesAndChecks: a download cut mid-way keeps what arrived
// and the next try asks only for the rest; the whole file is kept only
// with the signed hash; too big is refused; a server without Range
// support is read from the start again.
func TestFetchResumesAndChecks(t *testing.T) {
	body := make([]byte, 3<<20)
	rand.Read(body)
	sum := sha256.Sum256(body)
	want := hex.EncodeToString(sum[:])
	srv := &cutServer{body: body}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dir := t.TempDir()
	dst := filepath.Join(dir, "fw.bundle")
	ctx := context.Background()

	srv.cut.Store(1 << 20)
	n, err := Fetch(ctx, ts.Client(), ts.URL, dst, want, 8<<20)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("cut download: %d %v", n, err)
	}
	if fi, err := os.Stat(dst + ".part"); err != nil || fi.Size() != 1<<20 {
		t.Fatalf("partial file after the cut: %v %v", fi, err)
	}
	srv.cut.Store(0)
	n, err = Fetch(ctx, ts.Client(), ts.URL, dst, want, 8<<20)
	if err != nil || n != int64(len(body))-1<<20 || srv.ranges.Load() != 1 {
		t.Fatalf("resumed: got %d bytes (want %d), %d range requests, %v", n, len(body)-1<<20, srv.ranges.Load(), err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, body) {
		t.Fatal("the resumed download is not the file served")
	}
	if _, err := os.Stat(dst + ".part"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial file left: %v", err)
	}

	// Other bytes than signed: dropped, so the next try starts over.
	os.Remove(dst)
	if _, err := Fetch(ctx, ts.Client(), ts.URL, dst, strings.Repeat("0", 64), 8<<20); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("wrong hash: %v", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a file with the wrong hash was kept")
	}
	if fi, _ := os.Stat(dst + ".part"); fi != nil && fi.Size() != 0 {
		t.Fatalf("the wrong bytes were kept for resuming: %d", fi.Size())
	}

	// Bigger than an update may be: refused before it is read.
	if _, err := Fetch(ctx, ts.Client(), ts.URL, dst, want, 1<<20); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("too big: %v", err)
	}

	// A server that ignores Range: the partial is read again from 0.
	os.Remove(dst + ".part")
	full := &cutServer{body: body, full: true}
	full.cut.Store(1 << 20)
	fs := httptest.NewServer(full)
	defer fs.Close()
	Fetch(ctx, fs.Client(), fs.URL, dst, want, 8<<20)
	full.cut.Store(0)
	if _, err := Fetch(ctx, fs.Client(), fs.URL, dst, want, 8<<20); err != nil {
		t.Fatalf("server without ranges: %v", err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, body) {
		t.Fatal("download from a server without ranges is not the file")
	}
}
