package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hangingServer accepts connections and never answers: the target of a
// check that waits for its whole timeout.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// SIGTERM stops the daemon within its documented grace (5 s, then
// in-flight checks are cancelled) even while checks wait on targets that
// accept and never answer: blocking sockets are shut down when their
// check is cancelled. Before, the daemon waited for the checks' whole
// timeout (90 s on a site with 90 s timeouts, and systemd killed it).
func TestSIGTERMDoesNotWaitForHangingChecks(t *testing.T) {
	// Mostly waiting on the daemon: it runs beside the other waiting tests.
	t.Parallel()
	hang := hangingServer(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	status := ln.Addr().String()
	ln.Close()
	cfg := writeConfig(t, fmt.Sprintf(`site: Acme
listen: %s
checks:
  - {id: banner, kind: tcp, target: %q, interval: 20s, timeout: 20s, options: {banner: SSH}}
  - {id: web, kind: http, target: "http://%s/", interval: 20s, timeout: 20s}
`, status, hang, hang))
	cmd := exec.Command(binPath, "run", "--config", cfg, "--data", t.TempDir(), "--ui-listen", "127.0.0.1:0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { cmd.Process.Kill() }()
	inFlight := regexp.MustCompile(`outpost_checks_in_flight (\d+)`)
	waitFor(t, "both checks hanging on their targets", patience, func() string {
		resp, err := http.Get("http://" + status + "/metrics")
		if err != nil {
			return err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := inFlight.FindStringSubmatch(string(b)); m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= 2 {
				return ""
			}
		}
		return "metrics:\n" + string(b)
	})
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if took := time.Since(start); took > 15*time.Second {
			t.Fatalf("stopped after %s", took)
		}
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("still running 60 s after SIGTERM")
	}
}
