//go:build linux

package agent

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	agentd "outpost/appliance/agent"
	"outpost/appliance/config"
	"outpost/checks"
	"outpost/checks/agent/wire"
	"outpost/store"
)

// The wiring passes *store.Store as the client's Store.
var _ Store = (*store.Store)(nil)

// TestMain doubles as the agent process: with OUTPOST_TEST_AGENT set, the
// test binary runs a real agent daemon (pairing first when asked), so the
// box side talks to a separate process over real TLS.
func TestMain(m *testing.M) {
	if os.Getenv("OUTPOST_TEST_AGENT") == "1" {
		os.Exit(runChildAgent())
	}
	os.Exit(m.Run())
}

func runChildAgent() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	a, err := agentd.New(agentd.Options{DataDir: os.Getenv("AGENT_DATA"), Log: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	listen := os.Getenv("AGENT_LISTEN")
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	if code := os.Getenv("AGENT_CODE"); code != "" {
		if _, err := a.Pair(ctx, agentd.PairOptions{BoxURL: os.Getenv("AGENT_BOX"), Code: code, Listen: ln.Addr().String()}); err != nil {
			fmt.Printf("pair error: %v\n", err)
			return 3
		}
	}
	fmt.Printf("listening %s\n", ln.Addr())
	if err := a.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// patience bounds one answer of the real agent child process (or of
// Wine's agent). It is generous on purpose: a machine busy with other work
// runs the agent many times slower than an idle one, and calls return as
// soon as the agent answers, so it costs nothing when things work.
const patience = 90 * time.Second

const siteYAML = `site: test
agents:
  - name: srv1
    services: [outpost-test-unit]
    scripts:
      - {name: hello, command: /bin/echo, args: [hello from script]}
      - {name: mark, command: /bin/sh, args: [-c, "echo run >> MARK"]}
checks:
  - {id: disk-root, kind: agent_disk, target: srv1, options: {volume: /}}
  - {id: cpu, kind: agent_cpu, target: srv1}
  - {id: mem, kind: agent_memory, target: srv1}
  - {id: up, kind: agent_uptime, target: srv1}
  - {id: proc, kind: agent_process, target: srv1, options: {name: agent.test}}
  - {id: proc-missing, kind: agent_process, target: srv1, options: {name: no-such-process-xyz}}
  - {id: log, kind: agent_eventlog, target: srv1, options: {log: LOGFILE, pattern: "ERROR .*disk"}}
  - {id: perf, kind: agent_perf, target: srv1, options: {class: Win32_PerfFormattedData_PerfOS_Memory, property: AvailableMBytes}}
`

// rig is a box (real store, client, HTTPS pairing endpoint) and a paired
// agent child process.
type rig struct {
	c      *Client
	st     *store.Store
	cfg    *config.Config
	pairTS *httptest.Server
	addr   string
	data   string
	mark   string
	logf   string
	logs   *strings.Builder
	cmd    *exec.Cmd
	// listen is where the next agent child listens ("" = any port).
	listen string
}

func newBox(t testing.TB) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{data: filepath.Join(dir, "agent"), mark: filepath.Join(dir, "mark"), logf: filepath.Join(dir, "app.log"), logs: &strings.Builder{}}
	if err := os.WriteFile(r.logf, []byte("old ERROR on disk before the first poll\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := strings.ReplaceAll(strings.ReplaceAll(siteYAML, "MARK", r.mark), "LOGFILE", r.logf)
	cfg, err := config.Parse("site.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	r.cfg = cfg
	// The server's own allow-list: what the box config asks for, and the
	// log the checks read.
	local := PeersFromConfig(cfg.Agents)[0].policy()
	local.Logs = []string{r.logf}
	r.allow(t, local)
	st, err := store.Open(filepath.Join(dir, "outpost.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r.st = st
	mux := http.NewServeMux()
	ts := httptest.NewUnstartedServer(mux)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	r.pairTS = ts
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, r.logs}, nil))
	c, err := New(Options{Store: st, Site: "test", Log: log, PairTLSFingerprint: wire.Fingerprint(ts.Certificate().Raw)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	mux.Handle(wire.PathPair, c.PairHandler())
	c.SetPeers(PeersFromConfig(cfg.Agents))
	r.c = c
	return r
}

// allow writes the agent's own allow-list into its data directory, as
// `agent install --allow-...` does.
func (r *rig) allow(t testing.TB, p wire.Policy) {
	t.Helper()
	if err := os.MkdirAll(r.data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := agentd.WriteAllowList(filepath.Join(r.data, agentd.AllowFile), p); err != nil {
		t.Fatal(err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startAgent runs the agent child with a pair code; it returns the first
// line it prints ("listening ADDR" or "pair error: ...").
func (r *rig) startAgent(t testing.TB, code string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "OUTPOST_TEST_AGENT=1", "AGENT_DATA="+r.data, "AGENT_BOX="+r.pairTS.URL, "AGENT_CODE="+code, "AGENT_LISTEN="+r.listen)
	cmd.Stderr = io.Discard
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r.addr = ""
	line, _ := bufio.NewReader(out).ReadString('\n')
	line = strings.TrimSpace(line)
	if a, ok := strings.CutPrefix(line, "listening "); ok {
		r.addr = a
	}
	r.cmd = cmd
	return line
}

// boxKey is the key the box presents to that agent.
func (r *rig) boxKey(t testing.TB, name string) tls.Certificate {
	t.Helper()
	c, err := r.c.identity(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// conn is the box's connection to the agent as paired now.
func (r *rig) conn(t testing.TB, rec store.AgentRecord) *conn {
	t.Helper()
	cn, err := r.c.conn(rec.Name, rec)
	if err != nil {
		t.Fatal(err)
	}
	return cn
}

func paired(t testing.TB) *rig {
	t.Helper()
	r := newBox(t)
	code, _, err := r.c.NewPairCode("srv1")
	if err != nil {
		t.Fatal(err)
	}
	if line := r.startAgent(t, code); r.addr == "" {
		t.Fatalf("agent did not start: %q", line)
	}
	return r
}

func (r *rig) run(t *testing.T, id string) checks.Result {
	t.Helper()
	for _, s := range r.cfg.Specs() {
		if s.ID == id {
			ch, err := checks.Build(s, checks.Deps{Agents: r.c})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			return ch.Check(ctx)
		}
	}
	t.Fatalf("no check %s", id)
	return checks.Result{}
}

func TestPairedAgentReportsThisMachine(t *testing.T) {
	r := paired(t)
	rec, ok, err := r.st.GetAgent("srv1")
	if err != nil || !ok || rec.Address != r.addr {
		t.Fatalf("stored pairing %+v ok=%v err=%v, want address %s", rec, ok, err, r.addr)
	}

	t.Run("disk matches statfs", func(t *testing.T) {
		res := r.run(t, "disk-root")
		var st unix.Statfs_t
		if err := unix.Statfs("/", &st); err != nil {
			t.Fatal(err)
		}
		// df's Use%: root-reserved blocks are neither used nor available.
		used := float64(st.Blocks - st.Bfree)
		want := 100 * used / (used + float64(st.Bavail))
		if !res.HasValue || res.Value < want-0.5 || res.Value > want+0.5 {
			t.Fatalf("disk used %v%% (%s), statfs says %.2f%%", res.Value, res.Detail, want)
		}
		a, err := r.c.Query(context.Background(), "srv1", wire.Query{Kind: wire.QueryDisk, Name: "/"})
		if err != nil || len(a.Volumes) != 1 {
			t.Fatalf("%+v %v", a, err)
		}
		if a.Volumes[0].Total != st.Blocks*uint64(st.Bsize) {
			t.Fatalf("total %d, statfs %d", a.Volumes[0].Total, st.Blocks*uint64(st.Bsize))
		}
	})
	t.Run("memory total matches /proc/meminfo", func(t *testing.T) {
		a, err := r.c.Query(context.Background(), "srv1", wire.Query{Kind: wire.QueryMemory})
		if err != nil || a.Memory == nil {
			t.Fatal(a, err)
		}
		if want := memTotal(t); a.Memory.Total != want {
			t.Fatalf("total %d, /proc/meminfo %d", a.Memory.Total, want)
		}
		if res := r.run(t, "mem"); !res.HasValue || res.Value <= 0 || res.Value >= 100 {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("uptime boot time is btime", func(t *testing.T) {
		a, err := r.c.Query(context.Background(), "srv1", wire.Query{Kind: wire.QueryUptime})
		if err != nil || a.Uptime == nil {
			t.Fatal(a, err)
		}
		if a.Uptime.BootTime.Unix() != btime(t) {
			t.Fatalf("boot %v, btime %d", a.Uptime.BootTime, btime(t))
		}
		if res := r.run(t, "up"); res.Status != checks.OK {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("cpu", func(t *testing.T) {
		res := r.run(t, "cpu")
		if !res.HasValue || res.Value < 0 || res.Value > 100 || !strings.Contains(res.Detail, "cores") {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("process counted", func(t *testing.T) {
		a, err := r.c.Query(context.Background(), "srv1", wire.Query{Kind: wire.QueryProcess, Name: "agent.test"})
		if err != nil || a.Processes == nil {
			t.Fatal(a, err)
		}
		found := false
		for _, p := range a.Processes.PIDs {
			found = found || p == r.cmd.Process.Pid
		}
		if !found {
			t.Fatalf("agent's own pid %d not in %v", r.cmd.Process.Pid, a.Processes.PIDs)
		}
		if res := r.run(t, "proc-missing"); res.Status != checks.Critical {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("log lines since the last poll", func(t *testing.T) {
		ch := build(t, r, "log")
		ctx := context.Background()
		if res := ch.Check(ctx); res.Status != checks.OK {
			t.Fatalf("first poll must only find the end: %+v", res)
		}
		appendFile(t, r.logf, "INFO fine\nERROR raid disk 2 failed\nERROR another disk\n")
		res := ch.Check(ctx)
		if res.Status != checks.Warning || res.Value != 2 || !strings.Contains(res.Detail, "another disk") {
			t.Fatalf("%+v", res)
		}
		if res := ch.Check(ctx); res.Status != checks.OK || res.Value != 0 {
			t.Fatalf("nothing new: %+v", res)
		}
	})
	t.Run("perf on linux is a clear per-check error", func(t *testing.T) {
		res := r.run(t, "perf")
		if res.Status != checks.Unknown || !strings.Contains(res.Detail, "runs on linux") {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("inventory stored", func(t *testing.T) {
		inv, err := r.c.CollectInventory(context.Background(), "srv1")
		if err != nil {
			t.Fatal(err)
		}
		if inv.OS.Name == "" || inv.RAM != memTotal(t) || inv.BootTime.Unix() != btime(t) {
			t.Fatalf("%+v", inv)
		}
		got, ok, err := r.st.GetAgentInventory("srv1")
		if err != nil || !ok || !strings.Contains(string(got.Data), inv.OS.Name) {
			t.Fatalf("stored %v %v %s", ok, err, got.Data)
		}
	})
}

func build(t testing.TB, r *rig, id string) checks.Checker {
	t.Helper()
	for _, s := range r.cfg.Specs() {
		if s.ID == id {
			ch, err := checks.Build(s, checks.Deps{Agents: r.c})
			if err != nil {
				t.Fatal(err)
			}
			return ch
		}
	}
	t.Fatalf("no check %s", id)
	return nil
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func memTotal(t *testing.T) uint64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	var kb uint64
	fmt.Sscanf(strings.SplitN(string(data), "\n", 2)[0], "MemTotal: %d kB", &kb)
	return kb * 1024
}

func btime(t *testing.T) int64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatal("no btime")
	return 0
}

func TestCommandsAllowList(t *testing.T) {
	r := paired(t)
	ctx := context.Background()
	out, err := r.c.RunScript(ctx, "srv1", "hello")
	if err != nil || strings.TrimSpace(out) != "hello from script" {
		t.Fatalf("allowed script: %q %v", out, err)
	}
	if _, err := r.c.RestartService(ctx, "srv1", "sshd"); err == nil || !strings.Contains(err.Error(), "allow-list") {
		t.Fatalf("box must refuse a service off its allow-list: %v", err)
	}
	if !strings.Contains(r.logs.String(), "refused by the box's allow-list") {
		t.Fatalf("box did not log the refusal:\n%s", r.logs.String())
	}
	// The agent enforces its own copy: a request that skips the box's
	// check (as a compromised or buggy box would send) is refused too.
	rec, _, _ := r.st.GetAgent("srv1")
	var res wire.CommandResult
	err = r.c.send(ctx, "srv1", r.conn(t, rec), "POST", wire.PathCommand, wire.Command{Action: "restart", Target: "sshd", Nonce: newNonce(), Time: time.Now()}, &res)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not on this agent's allow-list") {
		t.Fatalf("agent must refuse: %v", err)
	}
	err = r.c.send(ctx, "srv1", r.conn(t, rec), "POST", wire.PathCommand, wire.Command{Action: "script", Target: "rm-rf", Nonce: newNonce(), Time: time.Now()}, &res)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("agent must refuse an unknown script: %v", err)
	}
	// An allowed unit that systemd cannot restart here comes back as a
	// failed command with the agent's reason, not a refusal.
	if _, err := r.c.RestartService(ctx, "srv1", "outpost-test-unit"); err == nil || errors.Is(err, ErrRefused) {
		t.Fatalf("restart of a missing unit: %v", err)
	}
}

func TestReplayedAndStaleCommandsRefused(t *testing.T) {
	r := paired(t)
	ctx := context.Background()
	rec, _, _ := r.st.GetAgent("srv1")
	cn := r.conn(t, rec)
	if err := r.c.syncPolicy(ctx, "srv1", cn); err != nil {
		t.Fatal(err)
	}
	cmd := wire.Command{Action: "script", Target: "mark", Nonce: newNonce(), Time: time.Now()}
	var res wire.CommandResult
	if err := r.c.send(ctx, "srv1", cn, "POST", wire.PathCommand, cmd, &res); err != nil || !res.OK {
		t.Fatalf("first: %+v %v", res, err)
	}
	if err := r.c.send(ctx, "srv1", cn, "POST", wire.PathCommand, cmd, &res); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("same nonce again: %v", err)
	}
	old := wire.Command{Action: "script", Target: "mark", Nonce: newNonce(), Time: time.Now().Add(-10 * time.Minute)}
	if err := r.c.send(ctx, "srv1", cn, "POST", wire.PathCommand, old, &res); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "clock") {
		t.Fatalf("stale: %v", err)
	}
	if n := countLines(t, r.mark); n != 1 {
		t.Fatalf("script ran %d times, want 1", n)
	}
}

func countLines(t *testing.T, path string) int {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

// tlsProxy relays box -> agent, recording the box's bytes and flipping a
// byte of the request record when tamper is set.
type tlsProxy struct {
	ln     net.Listener
	target string
	tamper bool
	mu     sync.Mutex
	sent   []byte
}

func newProxy(t *testing.T, target string, tamper bool) *tlsProxy {
	listen := os.Getenv("AGENT_LISTEN")
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	p := &tlsProxy{ln: ln, target: target, tamper: tamper}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(c)
		}
	}()
	return p
}

func (p *tlsProxy) relay(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	go io.Copy(c, up)
	// TLS records: 5-byte header (type, version, length). In TLS 1.3 the
	// client's records after ClientHello and ChangeCipherSpec are all
	// type 23: Certificate, CertificateVerify, Finished, then the
	// request, so the fourth is the request.
	n23 := 0
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		if hdr[0] == 23 {
			n23++
			if p.tamper && n23 >= 4 && len(body) > 20 {
				body[len(body)/2] ^= 0x40
			}
		}
		p.mu.Lock()
		p.sent = append(append(p.sent, hdr...), body...)
		p.mu.Unlock()
		if _, err := up.Write(append(append([]byte{}, hdr...), body...)); err != nil {
			return
		}
	}
}

func TestTamperedAndReplayedTrafficRefused(t *testing.T) {
	r := paired(t)
	ctx := context.Background()
	rec, _, _ := r.st.GetAgent("srv1")
	if err := r.c.syncPolicy(ctx, "srv1", r.conn(t, rec)); err != nil {
		t.Fatal(err)
	}

	t.Run("tampered", func(t *testing.T) {
		p := newProxy(t, r.addr, true)
		via := rec
		via.Address = p.ln.Addr().String()
		cn := &conn{fp: rec.CertFingerprint, addr: via.Address, http: r.conn(t, via).http}
		var res wire.CommandResult
		err := r.c.send(ctx, "srv1", cn, "POST", wire.PathCommand, wire.Command{Action: "script", Target: "mark", Nonce: newNonce(), Time: time.Now()}, &res)
		if err == nil {
			t.Fatal("a tampered request went through")
		}
		if n := countLines(t, r.mark); n != 0 {
			t.Fatalf("tampered command ran %d times", n)
		}
	})
	t.Run("replayed", func(t *testing.T) {
		p := newProxy(t, r.addr, false)
		via := rec
		via.Address = p.ln.Addr().String()
		r.c.mu.Lock()
		delete(r.c.conns, "srv1")
		r.c.mu.Unlock()
		cn := r.conn(t, via)
		var res wire.CommandResult
		if err := r.c.send(ctx, "srv1", cn, "POST", wire.PathCommand, wire.Command{Action: "script", Target: "mark", Nonce: newNonce(), Time: time.Now()}, &res); err != nil || !res.OK {
			t.Fatalf("through the proxy: %+v %v", res, err)
		}
		cn.http.CloseIdleConnections()
		p.mu.Lock()
		captured := append([]byte(nil), p.sent...)
		p.mu.Unlock()
		// Send the captured bytes again on a fresh connection: TLS keys
		// are fresh per connection, so the agent cannot accept them.
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(captured)
		io.Copy(io.Discard, c)
		c.Close()
		if n := countLines(t, r.mark); n != 1 {
			t.Fatalf("script ran %d times, want 1 (the replay must not run it)", n)
		}
	})
}

func TestRevokedAgentRefusedBothWays(t *testing.T) {
	r := paired(t)
	ctx := context.Background()
	if res := r.run(t, "mem"); res.Status != checks.OK {
		t.Fatalf("before: %+v", res)
	}
	rec, _, _ := r.st.GetAgent("srv1")
	oldKey := r.boxKey(t, "srv1")
	told, err := r.c.Revoke(ctx, "srv1")
	if err != nil || !told {
		t.Fatalf("revoke: told=%v %v", told, err)
	}
	res := r.run(t, "mem")
	if res.Status != checks.Unknown || !strings.Contains(res.Detail, "revoked") {
		t.Fatalf("box must refuse a revoked agent: %+v", res)
	}
	if _, err := r.c.RestartService(ctx, "srv1", "outpost-test-unit"); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("command to a revoked agent: %v", err)
	}
	// The agent forgot the box: even the old pinned key is refused now.
	fresh := &conn{fp: rec.CertFingerprint, addr: rec.Address, http: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{oldKey}, InsecureSkipVerify: true, VerifyConnection: wire.VerifyPinned("agent", rec.CertFingerprint)}}}}
	var info wire.Info
	err = r.c.send(ctx, "srv1", fresh, "GET", wire.PathInfo, nil, &info)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not paired") {
		t.Fatalf("agent must refuse the box after revocation: %v", err)
	}
	// Pairing again with a new code restores it.
	code, _, err := r.c.NewPairCode("srv1")
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.startAgent(t, code)
	if res := r.run(t, "mem"); res.Status != checks.OK {
		t.Fatalf("after re-pairing: %+v", res)
	}
}

func TestPairingRefusals(t *testing.T) {
	r := newBox(t)
	code, _, err := r.c.NewPairCode("srv1")
	if err != nil {
		t.Fatal(err)
	}
	// The right handle (first three digits), a wrong secret: the box
	// refuses the agent's confirmation.
	wrong := code[:4] + "000-000"
	if wrong == code {
		wrong = code[:4] + "000-001"
	}
	if line := r.startAgent(t, wrong); !strings.Contains(line, "pair code wrong") {
		t.Fatalf("wrong code: %q", line)
	}
	if line := r.startAgent(t, code); !strings.HasPrefix(line, "listening") {
		t.Fatalf("right code: %q", line)
	}
	r.data = t.TempDir()
	if line := r.startAgent(t, code); !strings.Contains(line, "pair code wrong, expired or already used") {
		t.Fatalf("a used code must be refused: %q", line)
	}
	if _, _, err := r.c.NewPairCode("nobody"); err == nil || !strings.Contains(err.Error(), "not a configured agent") {
		t.Fatalf("code for an unknown agent: %v", err)
	}
}

func TestUnpairedAgentRefuses(t *testing.T) {
	r := newBox(t)
	r.startAgent(t, "")
	// Pretend the box paired with it, to see the agent's own refusal.
	id, err := agentd.New(agentd.Options{DataDir: r.data})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.st.PutAgent(store.AgentRecord{Name: "srv1", CertFingerprint: id.Fingerprint(), Address: r.addr}); err != nil {
		t.Fatal(err)
	}
	res := r.run(t, "mem")
	if res.Status != checks.Unknown || !strings.Contains(res.Detail, "not paired with any box") {
		t.Fatalf("%+v", res)
	}
}

// fakeAgent is a TLS server with its own identity that misbehaves.
func fakeAgent(t *testing.T, r *rig, name string, handle func(net.Conn)) {
	t.Helper()
	pemBytes, err := wire.NewIdentity("fake")
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := wire.LoadIdentity(pemBytes)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	if err := r.st.PutAgent(store.AgentRecord{Name: name, CertFingerprint: wire.Fingerprint(cert.Certificate[0]), Address: ln.Addr().String()}); err != nil {
		t.Fatal(err)
	}
}

func TestBoxSurvivesHangingAndGarbageAgents(t *testing.T) {
	r := newBox(t)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	fakeAgent(t, r, "srv1", func(c net.Conn) { <-hold; c.Close() })
	ch := build(t, r, "mem")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	res := ch.Check(ctx)
	cancel()
	if res.Status != checks.Critical || !strings.Contains(res.Detail, "unreachable") {
		t.Fatalf("hanging agent: %+v", res)
	}

	cases := map[string]string{
		"not json":     "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{garbage!",
		"not http":     "\x00\x01\x02 definitely not HTTP\r\n\r\n",
		"huge headers": "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 2<<20) + "\r\n\r\n",
	}
	for name, reply := range cases {
		t.Run(name, func(t *testing.T) {
			fakeAgent(t, r, "srv1", func(c net.Conn) {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				bufio.NewReader(c).ReadString('\n')
				io.WriteString(c, reply)
			})
			r.c.mu.Lock()
			delete(r.c.conns, "srv1")
			delete(r.c.synced, "srv1")
			r.c.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res := ch.Check(ctx)
			if res.Status == checks.OK {
				t.Fatalf("garbage accepted: %+v", res)
			}
			t.Log(res.Detail)
		})
	}
	// The pin holds: an agent with another key is refused by the box.
	fakeAgent(t, r, "srv1", func(c net.Conn) { c.SetDeadline(time.Now().Add(5 * time.Second)); io.Copy(io.Discard, c); c.Close() })
	r.c.mu.Lock()
	delete(r.c.conns, "srv1")
	r.c.mu.Unlock()
	rec, _, _ := r.st.GetAgent("srv1")
	rec.CertFingerprint = "sha256:" + strings.Repeat("0", 64)
	r.st.PutAgent(rec)
	if res := ch.Check(context.Background()); !strings.Contains(res.Detail, "pinned at pairing") {
		t.Fatalf("pin mismatch: %+v", res)
	}
}

func TestTemplatesAreValidConfig(t *testing.T) {
	for _, name := range TemplateNames() {
		t.Run(name, func(t *testing.T) {
			y, err := Template(name, "srv-01")
			if err != nil {
				t.Fatal(err)
			}
			cfg := "site: t\nagents:\n  - name: srv-01\n" + y
			if _, err := config.Parse(name+".yaml", []byte(cfg)); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := Template("oracle", "x"); err == nil {
		t.Fatal("unknown template accepted")
	}
}

func TestCheckConfigErrors(t *testing.T) {
	cases := map[string]string{
		"target: nobody, options: {service: x}":                `"nobody" is not a configured agent`,
		"target: srv1, options: {service: ''}":                 "is not a service name",
		"target: srv1, options: {service: x, state: sleeping}": "is not a state to expect",
		"target: srv1, options: {service: x, bogus: 1}":        "unknown field",
	}
	for opts, want := range cases {
		y := "site: t\nagents: [{name: srv1}]\nchecks:\n  - {id: a, kind: agent_service, " + opts + "}\n"
		_, err := config.Parse("c.yaml", []byte(y))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", opts, err, want)
		}
	}
}
