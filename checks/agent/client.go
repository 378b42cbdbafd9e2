// Package agent is the box side of Outpost's agent mode: pair codes and
// the pairing endpoint, the client that polls paired agents over TLS
// pinned both ways, the commands healing sends them (restart a service,
// run an allow-listed script), inventory collection, and the agent_* check
// kinds. The agent daemon itself is appliance/agent; the protocol between
// them is checks/agent/wire.
package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"outpost/checks"
	"outpost/checks/agent/wire"
	"outpost/checks/clock"
	"outpost/healing"
	"outpost/store"
)

// Store is the persistence the box side needs; *store.Store implements it.
type Store interface {
	GetBlob(name string) ([]byte, error)
	PutBlobIfAbsent(name string, value []byte) ([]byte, error)
	PutAgent(r store.AgentRecord) error
	GetAgent(name string) (store.AgentRecord, bool, error)
	ListAgents() ([]store.AgentRecord, error)
	RevokeAgent(name string, at time.Time) (store.AgentRecord, error)
	TouchAgent(name string, at time.Time) error
	PutAgentInventory(inv store.AgentInventory) error
	GetAgentInventory(name string) (store.AgentInventory, bool, error)
}

var _ Store = (*store.Store)(nil)

// Peer is one agent as configured on the box: its name, where it serves,
// the device it belongs to, and what the box may ask it to do.
type Peer struct {
	Name string
	// Address is host:port; empty means "where it paired from".
	Address string
	// Device is the configured device the agent runs on (healing names
	// agents by device); empty means the agent's name.
	Device   string
	Services []string
	Scripts  []wire.Script
}

func (p Peer) policy() wire.Policy {
	return wire.Policy{Services: slices.Clone(p.Services), Scripts: slices.Clone(p.Scripts)}
}

// Options configure a Client.
type Options struct {
	Store Store
	// Site is the site's name, told to agents at pairing.
	Site  string
	Clock clock.Clock
	Log   *slog.Logger
	// PairTLSFingerprint is the fingerprint of the certificate the
	// pairing endpoint is served with (the box's HTTPS certificate); the
	// agent's proof is bound to it.
	PairTLSFingerprint string
	// CodeTTL is how long a pair code is valid (default 15 minutes).
	CodeTTL time.Duration
	// Identity is the certificate the box presents to agents; when empty
	// one is generated and kept in the store (blob "agent-box-identity").
	Identity *tls.Certificate
}

// ErrNotPaired, ErrRevoked and ErrRefused classify failures to reach an
// agent; healing's ErrNoAgent wraps through for unknown agents.
var (
	ErrNotPaired = errors.New("agent is not paired")
	ErrRevoked   = errors.New("agent pairing was revoked")
	ErrRefused   = errors.New("agent refused the request")
)

// Client is the box's side of agent mode.
type Client struct {
	o    Options
	cert tls.Certificate
	fp   string

	mu       sync.Mutex
	peers    map[string]Peer
	codes    map[string]*pending
	failures int
	conns    map[string]*conn // by agent name
	synced   map[string]string
	touched  map[string]time.Time
	newPair  chan struct{}
	pairAddr string
}

// touchEvery bounds how often last contact is written: each write is a
// bbolt commit (two fsyncs on the box's SD card), too dear per poll.
const touchEvery = 5 * time.Minute

func (c *Client) touch(name string) {
	now := c.o.Clock.Now()
	c.mu.Lock()
	due := now.Sub(c.touched[name]) >= touchEvery
	if due {
		c.touched[name] = now
	}
	c.mu.Unlock()
	if !due {
		return
	}
	if err := c.o.Store.TouchAgent(name, now); err != nil {
		c.o.Log.Warn("recording agent contact", "agent", name, "err", err)
	}
}

type pending struct {
	name    string
	expires time.Time
}

type conn struct {
	fp, addr string
	http     *http.Client
}

// maxPairFailures is how many wrong proofs void every pending code: a
// six-digit code then withstands guessing.
const maxPairFailures = 10

var (
	_ healing.AgentCommander = (*Client)(nil)
	_ checks.AgentQuerier    = (*Client)(nil)
)

// New loads (or creates) the box's agent identity.
func New(o Options) (*Client, error) {
	if o.Store == nil {
		return nil, errors.New("agent client: a store is required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.CodeTTL == 0 {
		o.CodeTTL = 15 * time.Minute
	}
	c := &Client{o: o, peers: map[string]Peer{}, codes: map[string]*pending{}, conns: map[string]*conn{}, synced: map[string]string{}, touched: map[string]time.Time{}, newPair: make(chan struct{}, 1)}
	if o.Identity != nil {
		c.cert = *o.Identity
	} else {
		pemBytes, err := o.Store.GetBlob("agent-box-identity")
		if err != nil {
			return nil, err
		}
		if pemBytes == nil {
			fresh, err := wire.NewIdentity("outpost-box " + o.Site)
			if err != nil {
				return nil, err
			}
			if pemBytes, err = o.Store.PutBlobIfAbsent("agent-box-identity", fresh); err != nil {
				return nil, err
			}
		}
		if c.cert, err = wire.LoadIdentity(pemBytes); err != nil {
			return nil, err
		}
	}
	c.fp = wire.Fingerprint(c.cert.Certificate[0])
	return c, nil
}

// Fingerprint is the certificate the box presents to agents.
func (c *Client) Fingerprint() string { return c.fp }

// SetPeers replaces the configured agents. Changed allow-lists reach each
// agent on its next contact.
func (c *Client) SetPeers(peers []Peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.peers = map[string]Peer{}
	for _, p := range peers {
		c.peers[p.Name] = p
	}
	c.synced = map[string]string{}
}

// Peer returns the configured agent with that name.
func (c *Client) Peer(name string) (Peer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.peers[name]
	return p, ok
}

// NewPairCode makes a one-time code for the configured agent name, valid
// for CodeTTL.
func (c *Client) NewPairCode(name string) (code string, expires time.Time, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.peers[name]; !ok {
		return "", time.Time{}, fmt.Errorf("%q is not a configured agent (add it under agents: first; configured: %s)", name, strings.Join(c.peerNamesLocked(), ", "))
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", time.Time{}, err
	}
	digits := fmt.Sprintf("%06d", n.Int64())
	now := c.o.Clock.Now()
	c.purgeLocked(now)
	for k, p := range c.codes {
		if p.name == name {
			delete(c.codes, k) // one live code per agent
		}
	}
	expires = now.Add(c.o.CodeTTL)
	c.codes[digits] = &pending{name: name, expires: expires}
	c.failures = 0
	c.o.Log.Info("agent pair code issued", "agent", name, "expires", expires)
	return digits[:3] + "-" + digits[3:], expires, nil
}

func (c *Client) peerNamesLocked() []string {
	var names []string
	for n := range c.peers {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

func (c *Client) purgeLocked(now time.Time) {
	for k, p := range c.codes {
		if !now.Before(p.expires) {
			delete(c.codes, k)
		}
	}
}

// PairHandler serves wire.PathPair; mount it on the box's HTTPS server
// whose certificate fingerprint is Options.PairTLSFingerprint.
func (c *Client) PairHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeJSON(w, http.StatusMethodNotAllowed, wire.Error{Error: "POST only"})
			return
		}
		if r.TLS == nil {
			writeJSON(w, http.StatusForbidden, wire.Error{Error: "pairing is only done over HTTPS"})
			return
		}
		var req wire.PairRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			writeJSON(w, 400, wire.Error{Error: "pairing request: " + err.Error()})
			return
		}
		resp, err := c.pair(req, r.RemoteAddr)
		if err != nil {
			c.o.Log.Warn("agent pairing refused", "from", r.RemoteAddr, "hostname", req.Hostname, "err", err)
			writeJSON(w, http.StatusForbidden, wire.Error{Code: "pair-refused", Error: err.Error()})
			return
		}
		writeJSON(w, 200, resp)
	})
}

func (c *Client) pair(req wire.PairRequest, remote string) (wire.PairResponse, error) {
	if req.Version != wire.Version {
		return wire.PairResponse{}, fmt.Errorf("agent speaks protocol %d, this box %d: update one of them", req.Version, wire.Version)
	}
	if len(req.Cert) == 0 {
		return wire.PairResponse{}, errors.New("no agent certificate in the request")
	}
	now := c.o.Clock.Now()
	c.mu.Lock()
	c.purgeLocked(now)
	var match *pending
	var matchCode string
	for code, p := range c.codes {
		if wire.CheckPairProof(req.Proof, code, req.Cert, c.o.PairTLSFingerprint) {
			match, matchCode = p, code
		}
	}
	if match == nil {
		c.failures++
		if c.failures >= maxPairFailures {
			clear(c.codes)
			c.failures = 0
			c.mu.Unlock()
			return wire.PairResponse{}, errors.New("pair code wrong, expired or already used; too many wrong codes, so every pending code was voided: make a new one with `outpost agent pair-code NAME`")
		}
		c.mu.Unlock()
		return wire.PairResponse{}, errors.New("pair code wrong, expired or already used: make a new one with `outpost agent pair-code NAME` on the box")
	}
	delete(c.codes, matchCode) // one-time, whatever happens next
	peer := c.peers[match.name]
	delete(c.conns, match.name)
	delete(c.synced, match.name)
	c.mu.Unlock()
	addr := peer.Address
	if addr == "" {
		addr = learnAddress(remote, req.Listen)
	}
	rec := store.AgentRecord{Name: match.name, CertFingerprint: wire.Fingerprint(req.Cert), Address: addr, Hostname: req.Hostname, OS: req.OS, PairedAt: now.UTC()}
	if err := c.o.Store.PutAgent(rec); err != nil {
		return wire.PairResponse{}, fmt.Errorf("saving the pairing: %w", err)
	}
	c.o.Log.Info("agent paired", "agent", rec.Name, "hostname", rec.Hostname, "os", rec.OS, "address", rec.Address, "fingerprint", rec.CertFingerprint)
	select {
	case c.newPair <- struct{}{}:
	default:
	}
	return wire.PairResponse{Version: wire.Version, Name: match.name, Site: c.o.Site, BoxCert: c.cert.Certificate[0], Policy: peer.policy()}, nil
}

// learnAddress joins the pairing connection's source host with the port
// the agent says it listens on.
func learnAddress(remote, listen string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return ""
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" || port == "0" {
		port = "8471"
	}
	return net.JoinHostPort(host, port)
}

// record returns the agent's pairing, or an error saying why the box will
// not talk to it.
func (c *Client) record(name string) (store.AgentRecord, error) {
	rec, ok, err := c.o.Store.GetAgent(name)
	if err != nil {
		return rec, err
	}
	if !ok {
		return rec, fmt.Errorf("agent %s: %w yet (run `outpost agent pair-code %s` on the box, then install the agent with that code)", name, ErrNotPaired, name)
	}
	if rec.Revoked() {
		return rec, fmt.Errorf("agent %s: %w on this box at %s (pair it again to trust it)", name, ErrRevoked, rec.RevokedAt.Format(time.RFC3339))
	}
	if rec.Address == "" {
		return rec, fmt.Errorf("agent %s has no address: set agents[].address in the config", name)
	}
	return rec, nil
}

func (c *Client) conn(name string, rec store.AgentRecord) *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	addr := rec.Address
	if p, ok := c.peers[name]; ok && p.Address != "" {
		addr = p.Address
	}
	if cn, ok := c.conns[name]; ok && cn.fp == rec.CertFingerprint && cn.addr == addr {
		return cn
	}
	if old, ok := c.conns[name]; ok {
		old.http.CloseIdleConnections()
	}
	// One kept-alive connection per agent: a 60 s poll reuses it instead
	// of paying a handshake each time.
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			Certificates:       []tls.Certificate{c.cert},
			InsecureSkipVerify: true, // replaced by the pin below
			VerifyConnection:   wire.VerifyPinned("agent "+name, rec.CertFingerprint),
			MinVersion:         tls.VersionTLS13,
		},
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     3 * time.Minute,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	cn := &conn{fp: rec.CertFingerprint, addr: addr, http: &http.Client{Transport: tr}}
	c.conns[name] = cn
	return cn
}

// maxAnswer bounds what the box reads from an agent.
const maxAnswer = 16 << 20

// call sends one request to a paired agent and decodes its JSON answer.
func (c *Client) call(ctx context.Context, name, method, path string, body, out any) error {
	rec, err := c.record(name)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	cn := c.conn(name, rec)
	if err := c.syncPolicy(ctx, name, cn); err != nil {
		return err
	}
	return c.send(ctx, name, cn, method, path, body, out)
}

func (c *Client) send(ctx context.Context, name string, cn *conn, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "https://"+cn.addr+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cn.http.Do(req)
	if err != nil {
		if errors.Is(err, wire.ErrPinMismatch) {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return fmt.Errorf("agent %s at %s: %w", name, cn.addr, err)
		}
		return fmt.Errorf("agent %s at %s unreachable: %w", name, cn.addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		kind := resp.Header.Get(wire.HeaderAgentError)
		err := wire.ReadError(resp)
		if kind != "" {
			c.o.Log.Warn("agent refused the box's request", "agent", name, "path", path, "code", kind, "err", err)
			return fmt.Errorf("agent %s: %w: %v", name, ErrRefused, err)
		}
		return fmt.Errorf("agent %s %s: %v", name, path, err)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(out); err != nil {
		return fmt.Errorf("agent %s at %s answered something that is not the agent protocol: %v", name, cn.addr, err)
	}
	c.touch(name)
	return nil
}

// syncPolicy pushes the configured allow-list to the agent once per
// configuration, before anything else is asked of it.
func (c *Client) syncPolicy(ctx context.Context, name string, cn *conn) error {
	c.mu.Lock()
	p, ok := c.peers[name]
	done := c.synced[name] == cn.fp
	c.mu.Unlock()
	if !ok || done {
		return nil
	}
	var got wire.Policy
	if err := c.send(ctx, name, cn, http.MethodPut, wire.PathPolicy, p.policy(), &got); err != nil {
		return fmt.Errorf("sending the allow-list: %w", err)
	}
	c.mu.Lock()
	c.synced[name] = cn.fp
	c.mu.Unlock()
	return nil
}

// Query asks an agent for one measurement. An agent-side failure is in
// the Answer's Error; the returned error is about reaching the agent.
func (c *Client) Query(ctx context.Context, name string, q wire.Query) (wire.Answer, error) {
	var a wire.Answer
	err := c.call(ctx, name, http.MethodPost, wire.PathQuery, q, &a)
	return a, err
}

// Info asks an agent who it is.
func (c *Client) Info(ctx context.Context, name string) (wire.Info, error) {
	var i wire.Info
	err := c.call(ctx, name, http.MethodGet, wire.PathInfo, nil, &i)
	return i, err
}

// Command sends one command. The box checks its own allow-list first and
// the agent checks its copy again; refusals are logged on both sides.
func (c *Client) Command(ctx context.Context, name, action, target string) (string, error) {
	p, ok := c.Peer(name)
	if !ok {
		return "", fmt.Errorf("%w: %q is not a configured agent", healing.ErrNoAgent, name)
	}
	pol := p.policy()
	allowed := false
	switch action {
	case wire.ActionRestart, wire.ActionStart, wire.ActionStop:
		allowed = pol.AllowsService(target)
	case wire.ActionScript:
		_, allowed = pol.Script(target)
	}
	if !allowed {
		c.o.Log.Warn("agent command refused by the box's allow-list", "agent", name, "action", action, "target", target)
		return "", fmt.Errorf("%s %q on agent %s refused: not on agents[%s]'s allow-list in the box config", action, target, name, name)
	}
	cmd := wire.Command{Action: action, Target: target, Nonce: newNonce(), Time: c.o.Clock.Now().UTC()}
	var res wire.CommandResult
	if err := c.call(ctx, name, http.MethodPost, wire.PathCommand, cmd, &res); err != nil {
		return "", err
	}
	c.o.Log.Info("agent command", "agent", name, "action", action, "target", target, "ok", res.OK)
	if !res.OK {
		return res.Output, fmt.Errorf("%s %s on agent %s failed: %s", action, target, name, strings.TrimSpace(res.Output))
	}
	return res.Output, nil
}

// agentFor finds the agent of a device: by its device field, else by name.
func (c *Client) agentFor(device string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.peers {
		if p.Device == device {
			return p.Name, nil
		}
	}
	if _, ok := c.peers[device]; ok {
		return device, nil
	}
	return "", fmt.Errorf("%w for device %s (no agents[] entry names it)", healing.ErrNoAgent, device)
}

// RestartService implements healing.AgentCommander.
func (c *Client) RestartService(ctx context.Context, device, service string) (string, error) {
	name, err := c.agentFor(device)
	if err != nil {
		return "", err
	}
	out, err := c.Command(ctx, name, wire.ActionRestart, service)
	if errors.Is(err, ErrNotPaired) || errors.Is(err, ErrRevoked) {
		return out, fmt.Errorf("%w: %v", healing.ErrNoAgent, err)
	}
	return out, err
}

// StartService starts an allow-listed service on the device's agent.
func (c *Client) StartService(ctx context.Context, device, service string) (string, error) {
	name, err := c.agentFor(device)
	if err != nil {
		return "", err
	}
	return c.Command(ctx, name, wire.ActionStart, service)
}

// StopService stops an allow-listed service on the device's agent.
func (c *Client) StopService(ctx context.Context, device, service string) (string, error) {
	name, err := c.agentFor(device)
	if err != nil {
		return "", err
	}
	return c.Command(ctx, name, wire.ActionStop, service)
}

// RunScript runs an allow-listed script on the device's agent.
func (c *Client) RunScript(ctx context.Context, device, script string) (string, error) {
	name, err := c.agentFor(device)
	if err != nil {
		return "", err
	}
	return c.Command(ctx, name, wire.ActionScript, script)
}

// Revoke stops trusting an agent. The agent is told to forget the box
// when it can be reached; either way the box refuses it from now on.
func (c *Client) Revoke(ctx context.Context, name string) (told bool, err error) {
	rec, ok, err := c.o.Store.GetAgent(name)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, fmt.Errorf("no agent named %q was ever paired with this box", name)
	}
	if !rec.Revoked() && rec.Address != "" {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var res wire.CommandResult
		told = c.send(tctx, name, c.conn(name, rec), http.MethodPost, wire.PathUnpair, struct{}{}, &res) == nil
		cancel()
	}
	if _, err := c.o.Store.RevokeAgent(name, c.o.Clock.Now()); err != nil {
		return told, err
	}
	c.mu.Lock()
	if cn, ok := c.conns[name]; ok {
		cn.http.CloseIdleConnections()
		delete(c.conns, name)
	}
	c.mu.Unlock()
	c.o.Log.Warn("agent pairing revoked", "agent", name, "agent_told", told)
	return told, nil
}

// CollectInventory fetches an agent's inventory and stores it.
func (c *Client) CollectInventory(ctx context.Context, name string) (wire.Inventory, error) {
	var inv wire.Inventory
	if err := c.call(ctx, name, http.MethodGet, wire.PathInventory, nil, &inv); err != nil {
		return inv, err
	}
	data, err := json.Marshal(inv)
	if err != nil {
		return inv, err
	}
	return inv, c.o.Store.PutAgentInventory(store.AgentInventory{Name: name, Collected: inv.Collected, Data: data})
}

// SetPairAddr tells the client where its PairHandler is served, so pair
// codes come with the address to give the agent.
func (c *Client) SetPairAddr(addr string) {
	c.mu.Lock()
	c.pairAddr = addr
	c.mu.Unlock()
}

// PairAddr is the address set by SetPairAddr.
func (c *Client) PairAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pairAddr
}

// NewPairings receives a value after an agent pairs (at most one value
// waits), so the daemon can collect its first inventory right away.
func (c *Client) NewPairings() <-chan struct{} { return c.newPair }

// RefreshInventory collects the inventory of every configured, paired
// agent whose stored inventory is missing or older than maxAge, and
// returns how many it collected. An unreachable agent is logged and
// tried again on the next call; one agent's failure does not stop the
// others.
func (c *Client) RefreshInventory(ctx context.Context, maxAge time.Duration) int {
	c.mu.Lock()
	names := make([]string, 0, len(c.peers))
	for n := range c.peers {
		names = append(names, n)
	}
	c.mu.Unlock()
	slices.Sort(names)
	now := c.o.Clock.Now()
	n := 0
	for _, name := range names {
		rec, ok, err := c.o.Store.GetAgent(name)
		if err != nil || !ok || rec.Revoked() {
			continue
		}
		if inv, ok, err := c.o.Store.GetAgentInventory(name); err == nil && ok && now.Sub(inv.Collected) < maxAge {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if _, err := c.CollectInventory(ctx, name); err != nil {
			c.o.Log.Warn("agent inventory not collected", "agent", name, "err", err)
			continue
		}
		n++
	}
	return n
}

// Close drops kept-alive connections.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range c.conns {
		cn.http.CloseIdleConnections()
	}
	return nil
}

func newNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
