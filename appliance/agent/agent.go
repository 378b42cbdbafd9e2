// Package agent is the daemon side of Outpost's agent mode: the same
// binary, run on a client's Windows or Linux server with `outpost agent
// run`, pairs once with the site box using a one-time pair code, then
// serves the box's queries (services, disks, CPU, memory, uptime,
// processes, event logs, performance counters, inventory) and the
// commands the box's allow-list permits, over TLS where each side accepts
// only the certificate it pinned at pairing.
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
	// DataDir holds the agent's key and pairing (agent-identity.pem,
	// agent-state.json), both mode 0600.
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
	BoxFingerprint string      `json:"box_fingerprint"`
	Policy         wire.Policy `json:"policy"`
	PairedAt       time.Time   `json:"paired_at"`
}

// Agent is the agent daemon.
type Agent struct {
	o    Options
	cert tls.Certificate
	fp   string

	mu     sync.Mutex
	state  State
	nonces map[string]time.Time
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

// Handler serves the box's requests after checking its pin.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.PathInfo, a.info)
	mux.HandleFunc("POST "+wire.PathQuery, a.query)
	mux.HandleFunc("POST "+wire.PathCommand, a.command)
	mux.HandleFunc("PUT "+wire.PathPolicy, a.policy)
	mux.HandleFunc("POST "+wire.PathUnpair, a.unpair)
	mux.HandleFunc("GET "+wire.PathInventory, a.inventory)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	a.mu.Lock()
	a.state.Policy = p
	err := a.saveLocked()
	a.mu.Unlock()
	if err != nil {
		writeJSON(w, 500, wire.Error{Error: "saving policy: " + err.Error()})
		return
	}
	a.o.Log.Info("allow-list updated by the box", "services", p.Services, "scripts", len(p.Scripts))
	writeJSON(w, 200, p)
}

func (a *Agent) unpair(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	old := a.state
	a.state = State{}
	err := a.saveLocked()
	a.mu.Unlock()
	if err != nil {
		writeJSON(w, 500, wire.Error{Error: "forgetting the box: " + err.Error()})
		return
	}
	a.o.Log.Warn("the box revoked this agent's pairing; every request is refused until it is paired again", "box", old.BoxURL, "name", old.Name)
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
	pol := a.state.Policy
	a.mu.Unlock()
	if seen {
		a.o.Log.Warn("command refused: replayed nonce", "action", c.Action, "target", c.Target, "from", r.RemoteAddr)
		refuse(w, http.StatusForbidden, wire.RefusedReplay, "this command was already received once (replayed nonce)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	switch c.Action {
	case wire.ActionRestart, wire.ActionStart, wire.ActionStop:
		if !pol.AllowsService(c.Target) {
			a.o.Log.Warn("command refused: service not on the allow-list", "action", c.Action, "service", c.Target, "allowed", pol.Services)
			refuse(w, http.StatusForbidden, wire.RefusedNotAllowed, fmt.Sprintf("%s of service %q refused: not on this agent's allow-list", c.Action, c.Target))
			return
		}
		out, err := a.o.Host.ControlService(ctx, c.Action, c.Target)
		a.report(w, c, out, err)
	case wire.ActionScript:
		s, ok := pol.Script(c.Target)
		if !ok {
			a.o.Log.Warn("command refused: script not on the allow-list", "script", c.Target)
			refuse(w, http.StatusForbidden, wire.RefusedNotAllowed, fmt.Sprintf("script %q refused: not on this agent's allow-list", c.Target))
			return
		}
		out, err := exec.CommandContext(ctx, s.Command, s.Args...).CombinedOutput()
		a.report(w, c, string(out), err)
	default:
		a.o.Log.Warn("command refused: unknown action", "action", c.Action, "target", c.Target)
		refuse(w, http.StatusForbidden, wire.RefusedNotAllowed, fmt.Sprintf("action %q is not one this agent performs (restart, start, stop, script)", c.Action))
	}
}

func (a *Agent) report(w http.ResponseWriter, c wire.Command, out string, err error) {
	if len(out) > maxOutput {
		out = out[len(out)-maxOutput:]
	}
	if err != nil {
		a.o.Log.Warn("command failed", "action", c.Action, "target", c.Target, "err", err)
		writeJSON(w, 200, wire.CommandResult{OK: false, Output: fmt.Sprintf("%s\n%v", out, err)})
		return
	}
	a.o.Log.Info("command done", "action", c.Action, "target", c.Target)
	writeJSON(w, 200, wire.CommandResult{OK: true, Output: out})
}
