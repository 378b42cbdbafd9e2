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
)

// Store is the persistence the box side needs; the wiring passes
// *store.Store. Pairings and inventories are the vocabulary's types
// (checks.AgentPairing, checks.AgentInventory). A missing entry is never
// an error: it is (nil, nil) from GetBlob and ok false from the getters.
// Errors are the database's failures (or, for RevokeAgent, an unknown
// name), and none of them is retried here.
type Store interface {
	// GetBlob returns the small named value, or nil when none is stored.
	GetBlob(name string) ([]byte, error)
	// PutBlob stores value under name, replacing what was there.
	PutBlob(name string, value []byte) error
	// PutBlobIfAbsent stores value under name unless one exists, and
	// returns the value in force (the earlier one if there was one).
	PutBlobIfAbsent(name string, value []byte) ([]byte, error)
	// PutAgent records a pairing, replacing an earlier one under its name
	// (re-pairing clears a revocation); LastSeen is not stored by it.
	PutAgent(r checks.AgentPairing) error
	// GetAgent returns the named agent's pairing with its last contact;
	// ok is false when none was ever recorded.
	GetAgent(name string) (r checks.AgentPairing, ok bool, err error)
	// ListAgents returns every pairing ever recorded, revoked ones
	// included, sorted by name.
	ListAgents() ([]checks.AgentPairing, error)
	// RevokeAgent marks the pairing revoked at the given time (an earlier
	// revocation stands) and returns the updated record; a name never
	// paired is an error.
	RevokeAgent(name string, at time.Time) (checks.AgentPairing, error)
	// TouchAgent records a successful contact at the given time.
	TouchAgent(name string, at time.Time) error
	// PutAgentInventory keeps an agent's latest inventory, replacing the
	// previous one.
	PutAgentInventory(inv checks.AgentInventory) error
	// GetAgentInventory returns the agent's latest inventory; ok is false
	// when none was kept.
	GetAgentInventory(name string) (inv checks.AgentInventory, ok bool, err error)
}

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
	// pairing exchange is bound to it.
	PairTLSFingerprint string
	// CodeTTL is how long a pair code is valid (default 15 minutes).
	CodeTTL time.Duration
	// Identity is the certificate the box presented to agents paired
	// before each pairing got its own (blob "agent-box-identity"); when
	// empty it is loaded or generated there. Every pairing now gets a
	// fresh identity of its own (blob "agent-box-identity/NAME"), which
	// revoking that agent destroys.
	Identity *tls.Certificate
}

// ErrNotPaired, ErrRevoked and ErrRefused classify failures to reach an
// agent; checks.ErrNoAgent wraps through for unknown agents.
var (
	ErrNotPaired = errors.New("agent is not paired")
	ErrRevoked   = errors.New("agent pairing was revoked")
	ErrRefused   = errors.New("agent refused the request")
)

// Client is the box's side of agent mode.
type Client struct {
	o Options
	// cert is the shared identity of pairings made before version 2.
	cert tls.Certificate

	mu       sync.Mutex
	peers    map[string]Peer
	codes    map[string]*pending     // by handle
	sessions map[string]*pairSession // by session id
	limiter  *limiter
	conns    map[string]*conn // by agent name
	synced   map[string]string
	touched  map[string]time.Time
	newPair  chan struct{}
	pairAddr string
	courier  []byte // PEM, see courierPEM
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

type conn struct {
	fp, addr, boxFP string
	http            *http.Client
}

var (
	_ checks.AgentCommander = (*Client)(nil)
	_ checks.AgentQuerier   = (*Client)(nil)
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
	c := &Client{o: o, peers: map[string]Peer{}, codes: map[string]*pending{}, sessions: map[string]*pairSession{}, limiter: newLimiter(pairBurst, pairRefill),
		conns: map[string]*conn{}, synced: map[string]string{}, touched: map[string]time.Time{}, newPair: make(chan struct{}, 1)}
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
	return c, nil
}

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

// record returns the agent's pairing, or an error saying why the box will
// not talk to it.
func (c *Client) record(name string) (checks.AgentPairing, error) {
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

func (c *Client) conn(name string, rec checks.AgentPairing) (*conn, error) {
	ident, err := c.identity(name)
	if err != nil {
		return nil, err
	}
	boxFP := wire.Fingerprint(ident.Certificate[0])
	c.mu.Lock()
	defer c.mu.Unlock()
	addr := c.addressLocked(name, rec)
	if cn, ok := c.conns[name]; ok && cn.fp == rec.CertFingerprint && cn.addr == addr && cn.boxFP == boxFP {
		return cn, nil
	}
	if old, ok := c.conns[name]; ok {
		old.http.CloseIdleConnections()
	}
	// One kept-alive connection per agent: a 60 s poll reuses it instead
	// of paying a handshake each time.
	cn := &conn{fp: rec.CertFingerprint, addr: addr, boxFP: boxFP, http: pinnedClient(name, rec.CertFingerprint, ident)}
	c.conns[name] = cn
	return cn, nil
}

func (c *Client) addressLocked(name string, rec checks.AgentPairing) string {
	if p, ok := c.peers[name]; ok && p.Address != "" {
		return p.Address
	}
	return rec.Address
}

// pinnedClient talks to the agent with that certificate, presenting ident.
func pinnedClient(name, agentFP string, ident tls.Certificate) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{
			Certificates:       []tls.Certificate{ident},
			InsecureSkipVerify: true, // replaced by the pin below
			VerifyConnection:   wire.VerifyPinned("agent "+name, agentFP),
			MinVersion:         tls.VersionTLS13,
		},
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     3 * time.Minute,
		TLSHandshakeTimeout: 10 * time.Second,
	}}
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
	cn, err := c.conn(name, rec)
	if err != nil {
		return err
	}
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
	// The agent acts only on what its own allow-list (on the server)
	// also holds: say what it will not do, so the config is not trusted
	// blindly.
	for _, s := range p.Services {
		if !got.AllowsService(s) {
			c.o.Log.Warn("the agent's own allow-list does not allow this service: it will refuse it", "agent", name, "service", s)
		}
	}
	for _, s := range p.Scripts {
		if _, ok := got.Script(s.Name); !ok {
			c.o.Log.Warn("the agent's own allow-list does not allow this script as configured: it will refuse it", "agent", name, "script", s.Name, "command", s.Command, "args", s.Args)
		}
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
		return "", fmt.Errorf("%w: %q is not a configured agent", checks.ErrNoAgent, name)
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
	return "", fmt.Errorf("%w for device %s (no agents[] entry names it)", checks.ErrNoAgent, device)
}

// RestartService implements checks.AgentCommander.
func (c *Client) RestartService(ctx context.Context, device, service string) (string, error) {
	name, err := c.agentFor(device)
	if err != nil {
		return "", err
	}
	out, err := c.Command(ctx, name, wire.ActionRestart, service)
	if errors.Is(err, ErrNotPaired) || errors.Is(err, ErrRevoked) {
		return out, fmt.Errorf("%w: %v", checks.ErrNoAgent, err)
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
	return inv, c.o.Store.PutAgentInventory(checks.AgentInventory{Name: name, Collected: inv.Collected, Data: data})
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
// others. It first delivers the revocations agents could not be told of
// yet (the daemon calls it every minute).
func (c *Client) RefreshInventory(ctx context.Context, maxAge time.Duration) int {
	c.DeliverRevocations(ctx)
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
