// Package agent is the daemon side of Outpost's agent mode: the same
// binary, run on a client's Windows or Linux server with `outpost agent
// run`, pairs once with the site box using a one-time pair code, then
// serves the box's queries (services, disks, CPU, memory, uptime,
// processes, event logs, performance counters, inventory) and the
// commands its own allow-list (allow.yaml, set on the server) permits and
// the box's narrows, over TLS where each side accepts only the
// certificate it pinned at pairing.
package agent

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"outpost/checks/agent/sysinfo"
	"outpost/checks/agent/wire"
)

// DefaultListen is the agent's default address: every interface, since
// the box polls it from the site LAN.
const DefaultListen = ":8471"

// CommandWindow is how far a command's time may be from the agent's
// clock; nonces are remembered for twice as long.
const CommandWindow = 2 * time.Minute

// Options configure an Agent.
type Options struct {
	// DataDir holds the agent's key, pairing and allow-list
	// (agent-identity.pem, agent-state.json, allow.yaml), private to
	// root (Linux) or SYSTEM and Administrators (Windows).
	DataDir string
	// Host answers queries (default: this machine, sysinfo.New()).
	Host sysinfo.Host
	Log  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Version is the outpost version reported to the box.
	Version string
}

// State is what pairing leaves on the agent's disk.
type State struct {
	Name   string `json:"name"`
	Site   string `json:"site"`
	BoxURL string `json:"box_url"`
	// BoxFingerprint pins the certificate the box presents when polling.
	BoxFingerprint string `json:"box_fingerprint"`
	// BoxPolicy is the box's allow-list as it last sent it: it narrows
	// the agent's own (allow.yaml), never widens it.
	BoxPolicy wire.Policy `json:"box_policy"`
	PairedAt  time.Time   `json:"paired_at"`
}

// Agent is the agent daemon.
type Agent struct {
	o    Options
	cert tls.Certificate
	fp   string

	mu     sync.Mutex
	state  State
	nonces map[string]time.Time
	// allowSeen is the allow-list file content (or the error) last
	// logged, so each change is logged once.
	allowSeen string
}

// New loads the agent's identity (creating it on first start) and its
// pairing, if any.
func New(o Options) (*Agent, error) {
	if o.DataDir == "" {
		return nil, errors.New("agent: a data directory is required")
	}
	if o.Host == nil {
		o.Host = sysinfo.New()
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent data directory: %w", err)
	}
	if err := secureDir(o.DataDir); err != nil {
		return nil, fmt.Errorf("agent data directory: %w", err)
	}
	a := &Agent{o: o, nonces: map[string]time.Time{}}
	idPath := filepath.Join(o.DataDir, "agent-identity.pem")
	pemBytes, err := os.ReadFile(idPath)
	if errors.Is(err, os.ErrNotExist) {
		host, _ := os.Hostname()
		if pemBytes, err = wire.NewIdentity("outpost-agent " + host); err != nil {
			return nil, err
		}
		err = writeFileAtomic(idPath, pemBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("agent identity %s: %w", idPath, err)
	}
	if a.cert, err = wire.LoadIdentity(pemBytes); err != nil {
		return nil, fmt.Errorf("%s: %w", idPath, err)
	}
	a.fp = wire.Fingerprint(a.cert.Certificate[0])
	data, err := os.ReadFile(a.statePath())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("agent state: %w", err)
	default:
		if err := json.Unmarshal(data, &a.state); err != nil {
			return nil, fmt.Errorf("agent state %s is damaged (%v); delete it and pair again", a.statePath(), err)
		}
	}
	return a, nil
}

func (a *Agent) statePath() string { return filepath.Join(a.o.DataDir, "agent-state.json") }

// AllowPath is the agent's allow-list file.
func (a *Agent) AllowPath() string { return filepath.Join(a.o.DataDir, AllowFile) }

// AllowList reads the agent's own allow-list. A missing file allows
// nothing; an unreadable, invalid or insecure one is an error, and the
// agent then allows nothing. Each change is logged in full.
func (a *Agent) AllowList() (wire.Policy, error) {
	p, data, err := readAllowList(a.AllowPath())
	seen := string(data)
	if err != nil {
		err = fmt.Errorf("allow-list %s: %w", a.AllowPath(), err)
		seen = "error: " + err.Error()
	}
	a.mu.Lock()
	changed := seen != a.allowSeen
	a.allowSeen = seen
	a.mu.Unlock()
	switch {
	case !changed:
	case err != nil:
		a.o.Log.Error("the allow-list is unusable: the box may run nothing and read no log until it is fixed", "err", err)
	case data == nil:
		a.o.Log.Warn("no allow-list: the box may run nothing and read no log (write one with `outpost agent install --allow-service ...`, or edit the file)", "file", a.AllowPath())
	default:
		a.o.Log.Info("allow-list loaded", "file", a.AllowPath(), "allow", describe(p))
	}
	if err != nil {
		return wire.Policy{}, err
	}
	return p, nil
}

// SetAllowList replaces the agent's allow-list file (what `agent install
// --allow-...` does, as an administrator) and logs it.
func (a *Agent) SetAllowList(p wire.Policy) error {
	if err := WriteAllowList(a.AllowPath(), p); err != nil {
		return fmt.Errorf("allow-list %s: %w", a.AllowPath(), err)
	}
	a.o.Log.Info("allow-list written", "file", a.AllowPath(), "allow", describe(p))
	_, err := a.AllowList()
	return err
}

// SetAllowFlags writes the allow-list `agent install` is given: services,
// scripts as NAME=ABSOLUTE-PATH (no arguments), and logs (DefaultLogs
// when none). It returns the list as Summary shows it.
func (a *Agent) SetAllowFlags(services, scripts, logs []string) (string, error) {
	p := wire.Policy{Services: services, Logs: logs}
	if len(p.Logs) == 0 {
		p.Logs = DefaultLogs()
	}
	for _, s := range scripts {
		name, cmd, ok := strings.Cut(s, "=")
		if !ok {
			return "", fmt.Errorf("--allow-script %q: give NAME=ABSOLUTE-PATH", s)
		}
		p.Scripts = append(p.Scripts, wire.Script{Name: name, Command: cmd})
	}
	if err := a.SetAllowList(p); err != nil {
		return "", err
	}
	return Summary(p), nil
}

// AllowSummary reads the allow-list and shows it as Summary does.
func (a *Agent) AllowSummary() (string, error) {
	p, err := a.AllowList()
	if err != nil {
		return "", err
	}
	return Summary(p), nil
}

// Summary shows an allow-list to the technician.
func Summary(p wire.Policy) string {
	var scripts []string
	for _, s := range p.Scripts {
		scripts = append(scripts, s.Name+" = "+CommandLine(s))
	}
	return fmt.Sprintf("services [%s]; scripts [%s]; logs [%s] (the box can narrow it, never widen it)", strings.Join(p.Services, ", "), strings.Join(scripts, "; "), strings.Join(p.Logs, ", "))
}

// effective is what the agent does for the box now: its own allow-list
// narrowed by the box's.
func (a *Agent) effective() (wire.Policy, error) {
	local, err := a.AllowList()
	if err != nil {
		return wire.Policy{}, err
	}
	eff, _ := narrow(local, a.State().BoxPolicy)
	return eff, nil
}

// Fingerprint is the agent's own certificate fingerprint, which the box
// pins.
func (a *Agent) Fingerprint() string { return a.fp }

// State returns the current pairing (zero when unpaired).
func (a *Agent) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// Paired reports whether a box is pinned.
func (a *Agent) Paired() bool { return a.State().BoxFingerprint != "" }

func (a *Agent) saveLocked() error {
	data, err := json.MarshalIndent(a.state, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(a.statePath(), data)
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// TLSConfig is the server side: any client certificate is accepted at
// the handshake so that an unpaired or revoked box gets a clear refusal
// in HTTP rather than a bare TLS alert; the handler checks the pin before
// doing anything.
func (a *Agent) TLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{a.cert},
		ClientAuth:   tls.RequireAnyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}

// Serve answers the box on ln until ctx ends.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.o.Log.Handler(), slog.LevelDebug),
	}
	tl := tls.NewListener(ln, a.TLSConfig())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tl) }()
	st := a.State()
	a.AllowList() // logs it, or its absence
	if st.BoxFingerprint == "" {
		a.o.Log.Warn("agent is not paired: every request is refused until `outpost agent install --box ... --pair-code ...` (or `agent run --box --pair-code`) pairs it", "listen", ln.Addr().String())
	} else {
		a.o.Log.Info("agent serving", "listen", ln.Addr().String(), "name", st.Name, "box", st.BoxURL, "box_fingerprint", st.BoxFingerprint)
	}
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		return err
	}
}

// Handler serves the box's requests after checking its pin; a signed
// revocation is checked by its signature instead, since the box
// destroyed the key it would have presented.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.PathInfo, a.info)
	mux.HandleFunc("POST "+wire.PathQuery, a.query)
	mux.HandleFunc("POST "+wire.PathCommand, a.command)
	mux.HandleFunc("PUT "+wire.PathPolicy, a.policy)
	mux.HandleFunc("GET "+wire.PathInventory, a.inventory)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == wire.PathRevoke {
			if r.Method != http.MethodPost {
				writeJSON(w, http.StatusMethodNotAllowed, wire.Error{Error: "POST only"})
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			a.revoke(w, r)
			return
		}
		if !a.authorized(w, r) {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		mux.ServeHTTP(w, r)
	})
}

func (a *Agent) authorized(w http.ResponseWriter, r *http.Request) bool {
	st := a.State()
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		refuse(w, http.StatusForbidden, wire.RefusedWrongBox, "a client certificate is required")
		return false
	}
	got := wire.Fingerprint(r.TLS.PeerCertificates[0].Raw)
	if st.BoxFingerprint == "" {
		a.o.Log.Warn("refused a request: this agent is not paired", "from", r.RemoteAddr, "path", r.URL.Path, "client", got)
		refuse(w, http.StatusForbidden, wire.RefusedNotPaired, "this agent is not paired with any box (pair it with `outpost agent install --box URL --pair-code CODE`)")
		return false
	}
	if got != st.BoxFingerprint {
		a.o.Log.Warn("refused a request from a box this agent is not paired with", "from", r.RemoteAddr, "path", r.URL.Path, "client", got, "pinned", st.BoxFingerprint)
		refuse(w, http.StatusForbidden, wire.RefusedWrongBox, "this agent is paired with another box (or this box's pairing was revoked); pair it again")
		return false
	}
	return true
}

func refuse(w http.ResponseWriter, code int, kind, msg string) {
	w.Header().Set(wire.HeaderAgentError, kind)
	writeJSON(w, code, wire.Error{Code: kind, Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (a *Agent) info(w http.ResponseWriter, r *http.Request) {
	host, _ := os.Hostname()
	writeJSON(w, 200, wire.Info{Version: wire.Version, Name: a.State().Name, Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH, Agent: a.o.Version})
}

// queryTimeout caps a query whose box gave no deadline.
const queryTimeout = time.Minute

func (a *Agent) query(w http.ResponseWriter, r *http.Request) {
	var q wire.Query
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		writeJSON(w, 400, wire.Error{Error: "query: " + err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	writeJSON(w, 200, a.answer(ctx, q))
}

// answer runs one query; a failure is the Answer's Error, a panic in a
// collector too, so one bad WMI provider never takes the agent down.
func (a *Agent) answer(ctx context.Context, q wire.Query) (ans wire.Answer) {
	defer func() {
		if p := recover(); p != nil {
			a.o.Log.Error("query panicked", "kind", q.Kind, "panic", p)
			ans = wire.Answer{Error: fmt.Sprintf("the agent failed reading %s: %v", q.Kind, p)}
		}
	}()
	h := a.o.Host
	var err error
	switch q.Kind {
	case wire.QueryService:
		var s wire.Service
		s, err = h.Service(ctx, q.Name)
		ans.Service = &s
	case wire.QueryDisk:
		ans.Volumes, err = h.Volumes(ctx, q.Name)
	case wire.QueryCPU:
		var c wire.CPU
		c, err = h.CPU(ctx)
		ans.CPU = &c
	case wire.QueryMemory:
		var m wire.Memory
		m, err = h.Memory(ctx)
		ans.Memory = &m
	case wire.QueryUptime:
		var u wire.Uptime
		u, err = h.Uptime(ctx)
		ans.Uptime = &u
	case wire.QueryProcess:
		var p wire.ProcessList
		p, err = h.Processes(ctx, q.Name)
		ans.Processes = &p
	case wire.QueryEventLog:
		if q.Events == nil {
			return wire.Answer{Error: "eventlog query without events"}
		}
		eff, err := a.effective()
		if err != nil {
			return wire.Answer{Error: err.Error()}
		}
		if !allowsLog(eff, q.Events.Log) {
			a.o.Log.Warn("log read refused: not on this agent's allow-list", "log", q.Events.Log, "allowed", eff.Logs)
			return wire.Answer{Error: fmt.Sprintf("log %q is not on this agent's allow-list (an administrator adds it under logs: in %s on the server)", q.Events.Log, a.AllowPath())}
		}
		var b wire.EventBatch
		b, err = h.Events(ctx, *q.Events)
		ans.Events = &b
	case wire.QueryPerf:
		if q.Perf == nil {
			return wire.Answer{Error: "perf query without perf"}
		}
		var v wire.PerfValue
		v, err = h.Perf(ctx, *q.Perf)
		ans.Perf = &v
	default:
		return wire.Answer{Error: fmt.Sprintf("unknown query kind %q", q.Kind)}
	}
	if err != nil {
		return wire.Answer{Error: err.Error()}
	}
	return ans
}

func (a *Agent) inventory(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	inv, err := a.o.Host.Inventory(ctx)
	if err != nil {
		writeJSON(w, 500, wire.Error{Error: "inventory: " + err.Error()})
		return
	}
	writeJSON(w, 200, inv)
}

func (a *Agent) policy(w http.ResponseWriter, r *http.Request) {
	var p wire.Policy
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		writeJSON(w, 400, wire.Error{Error: "policy: " + err.Error()})
		return
	}
	if len(p.Services) > maxAllowEntries || len(p.Scripts) > maxAllowEntries {
		writeJSON(w, 400, wire.Error{Error: fmt.Sprintf("policy: more than %d entries", maxAllowEntries)})
		return
	}
	p.Logs = nil // the box does not choose logs
	a.mu.Lock()
	a.state.BoxPolicy = p
	err := a.saveLocked()
	a.mu.Unlock()
	if err != nil {
		writeJSON(w, 500, wire.Error{Error: "saving policy: " + err.Error()})
		return
	}
	// An unusable allow-list file (logged by AllowList) allows nothing;
	// monitoring goes on.
	local, _ := a.AllowList()
	eff, refused := narrow(local, p)
	a.o.Log.Info("allow-list from the box", "from", r.RemoteAddr, "box", describe(p))
	for _, x := range refused {
		a.o.Log.Warn("the box's allow-list asks for more than this server allows: refused", "entry", x)
	}
	a.o.Log.Info("allow-list in force", "allow", describe(eff), "file", a.AllowPath())
	writeJSON(w, 200, eff)
}

// revoke applies the box's signed revocation: the agent forgets the box
// if the statement is for the box it pinned, signed with that box's key.
func (a *Agent) revoke(w http.ResponseWriter, r *http.Request) {
	var rv wire.Revocation
	if err := json.NewDecoder(r.Body).Decode(&rv); err != nil {
		writeJSON(w, 400, wire.Error{Error: "revocation: " + err.Error()})
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.state
	err := rv.Verify(old.BoxFingerprint, a.fp)
	switch {
	case errors.Is(err, wire.ErrNotThisPairing) || old.BoxFingerprint == "":
		// Already forgotten, or paired again since: nothing to do, and
		// the box may stop delivering it.
		a.o.Log.Info("a revocation for a box this agent no longer trusts: nothing to do", "from", r.RemoteAddr, "revoked_box", wire.Fingerprint(rv.BoxCert), "pinned", old.BoxFingerprint)
		writeJSON(w, 200, wire.CommandResult{OK: true, Output: "this agent does not trust that box key"})
		return
	case err != nil:
		a.o.Log.Warn("refused a revocation that does not check", "from", r.RemoteAddr, "err", err)
		refuse(w, http.StatusForbidden, wire.RefusedWrongBox, err.Error())
		return
	}
	a.state = State{}
	if err := a.saveLocked(); err != nil {
		a.state = old
		writeJSON(w, 500, wire.Error{Error: "forgetting the box: " + err.Error()})
		return
	}
	a.o.Log.Warn("the box revoked this agent's pairing (signed revocation checked): every request is refused until it is paired again", "box", old.BoxURL, "name", old.Name, "box_fingerprint", old.BoxFingerprint, "revoked_at", rv.RevokedAt)
	writeJSON(w, 200, wire.CommandResult{OK: true, Output: "unpaired"})
}

// maxOutput caps what a command returns to the box.
const maxOutput = 64 << 10

func (a *Agent) command(w http.ResponseWriter, r *http.Request) {
	var c wire.Command
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		writeJSON(w, 400, wire.Error{Error: "command: " + err.Error()})
		return
	}
	now := a.o.Now()
	if d := now.Sub(c.Time); d > CommandWindow || d < -CommandWindow {
		a.o.Log.Warn("command refused: stale or future time", "action", c.Action, "target", c.Target, "time", c.Time, "skew", d.String())
		refuse(w, http.StatusForbidden, wire.RefusedStale, fmt.Sprintf("command time %s is %s away from the agent's clock (allowed %s): check both clocks", c.Time.UTC().Format(time.RFC3339), d.Round(time.Second), CommandWindow))
		return
	}
	if len(c.Nonce) < 16 {
		refuse(w, http.StatusForbidden, wire.RefusedReplay, "command without a nonce")
		return
	}
	a.mu.Lock()
	for n, t := range a.nonces {
		if now.Sub(t) > 2*CommandWindow {
			delete(a.nonces, n)
		}
	}
	_, seen := a.nonces[c.Nonce]
	if !seen {
		a.nonces[c.Nonce] = now
	}
	a.mu.Unlock()
	if seen {
		a.o.Log.Warn("command refused: replayed nonce", "action", c.Action, "target", c.Target, "from", r.RemoteAddr)
		refuse(w, http.StatusForbidden, wire.RefusedReplay, "this command was already received once (replayed nonce)")
		return
	}
	pol, err := a.effective()
	if err != nil {
		a.o.Log.Warn("command refused: no usable allow-list", "action", c.Action, "target", c.Target, "err", err)
		refuse(w, http.StatusForbidden, wire.RefusedNotAllowed, fmt.Sprintf("%s %q refused: %v", c.Action, c.Target, err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	switch c.Action {
	case wire.ActionRestart, wire.ActionStart, wire.ActionStop:
		if !pol.AllowsService(c.Target) {
			a.o.Log.Warn("command refused: service not on the allow-list", "action", c.Action, "service", c.Target, "allowed", pol.Services, "from", r.RemoteAddr)
			refuse(w, http.StatusForbidden, wire.RefusedNotAllowed, fmt.Sprintf("%s of service %q refused: not on this agent's allow-list (both this server's %s and the box's config must allow it)", c.Action, c.Target, AllowFile))
			return
		}
		a.o.Log.Info("command", "action", c.Action, "service", c.Target, "from", r.RemoteAddr)
		out, err := a.o.Host.ControlService(ctx, c.Action, c.Target)
		a.report(w, c, "", out, err)
	case wire.ActionScript:
		s, ok := pol.Script(c.Target)
		if !ok {
			a.o.Log.Warn("command refused: script not on the allow-list", "script", c.Target, "from", r.RemoteAddr)
			refuse(w, http.StatusForbidden, wire.RefusedNotAllowed, fmt.Sprintf("script %q refused: not on this agent's allow-list (both this server's %s and the box's config must allow it)", c.Target, AllowFile))
			return
		}
		line := CommandLine(s)
		if err := checkScript(s.Command); err != nil {
			a.o.Log.Warn("command refused: the script file is not safe to run", "script", s.Name, "command_line", line, "err", err)
			refuse(w, http.StatusForbidden, wire.RefusedNotAllowed, fmt.Sprintf("script %q refused: %v", s.Name, err))
			return
		}
		a.o.Log.Info("running script", "script", s.Name, "command_line", line, "from", r.RemoteAddr)
		out, err := exec.CommandContext(ctx, s.Command, s.Args...).CombinedOutput()
		a.report(w, c, line, string(out), err)
	default:
		a.o.Log.Warn("command refused: unknown action", "action", c.Action, "target", c.Target)
		refuse(w, http.StatusForbidden, wire.RefusedNotAllowed, fmt.Sprintf("action %q is not one this agent performs (restart, start, stop, script)", c.Action))
	}
}

func (a *Agent) report(w http.ResponseWriter, c wire.Command, line, out string, err error) {
	if len(out) > maxOutput {
		out = out[len(out)-maxOutput:]
	}
	if err != nil {
		a.o.Log.Warn("command failed", "action", c.Action, "target", c.Target, "command_line", line, "err", err)
		writeJSON(w, 200, wire.CommandResult{OK: false, Output: fmt.Sprintf("%s\n%v", out, err)})
		return
	}
	a.o.Log.Info("command done", "action", c.Action, "target", c.Target, "command_line", line)
	writeJSON(w, 200, wire.CommandResult{OK: true, Output: out})
}
