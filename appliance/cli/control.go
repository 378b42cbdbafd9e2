package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ControlSocket is the running daemon's control socket in a data dir. The
// daemon holds the bbolt file exclusively, so CLI commands that read or
// change live state (incidents, healing, notify tests) talk to it there.
// The socket is mode 0600: being root (or the service user) on the box is
// the authentication.
func ControlSocket(dataDir string) string { return filepath.Join(dataDir, "control.sock") }

// DataDirFlag adds the standard --data flag. Its default finds the
// running daemon: the installed service's data directory when a daemon
// answers there, else ./data (make run's).
func DataDirFlag(fs *flag.FlagSet) *string {
	return fs.String("data", defaultDataDir(), "data directory of the running daemon (default: the installed service's when it runs, else ./data)")
}

func defaultDataDir() string {
	if svc := defaultServiceData(); svc != "" {
		if _, err := os.Stat(ControlSocket(svc)); err == nil {
			return svc
		}
	}
	return "./data"
}

// Control calls the daemon's control API: method, path (e.g.
// "/incidents?open=1"), a JSON body (or nil), and decodes the JSON answer
// into out (or skips it when out is nil). A daemon error answer
// {"error": "..."} becomes a Go error with that message.
func Control(ctx context.Context, dataDir, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(b))
	}
	return controlDo(ctx, dataDir, method, path, "application/json", rd, 2*time.Minute, out)
}

// controlDo sends one request over the control socket, body as it is
// with its content type, and decodes the JSON answer into out (nil:
// skipped); the whole exchange is bounded by timeout.
func controlDo(ctx context.Context, dataDir, method, path, contentType string, body io.Reader, timeout time.Duration, out any) error {
	sock := ControlSocket(dataDir)
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://outpost"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the outpost daemon at %s (is it running with --data %s?): %w", sock, dataDir, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("daemon answered %s: %s", resp.Status, strings.TrimSpace(string(data[:min(len(data), 200)])))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
