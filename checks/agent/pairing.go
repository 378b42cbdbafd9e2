package agent

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"outpost/checks"
	"outpost/checks/agent/wire"
)

// Pairing on the box: one-time codes, the CPace exchange (wire/pair.go)
// on the pairing endpoint, and the limits that keep a LAN host from
// guessing a code or voiding it for the technician.

// maxPairFailures is how many wrong confirmations void one pending code
// (the box logs it; the technician makes a new one). Each wrong one is
// one guess of six secret digits: 5 in a million per code.
const maxPairFailures = 5

// Pairing request limits: per source address, a burst of pairBurst
// requests, then one per pairRefill (a pairing takes two). Requests
// over the limit are refused before anything is computed.
const (
	pairBurst  = 10
	pairRefill = 6 * time.Second
)

// Open pairing exchanges: a start must be confirmed within
// pairSessionTTL, and at most maxPairSessions wait at once.
const (
	pairSessionTTL  = time.Minute
	maxPairSessions = 32
)

type pending struct {
	name     string
	code     string // nine digits
	expires  time.Time
	failures int
}

type pairSession struct {
	p       *pending
	bp      *wire.BoxPairing
	ident   []byte // PEM of the identity the box will present to this agent
	req     wire.PairRequest
	remote  string
	expires time.Time
}

// identityBlob holds the certificate and key the box presents to one
// agent; revoking the agent empties it.
func identityBlob(name string) string { return "agent-box-identity/" + name }

// identity is the certificate the box presents to that agent: its own,
// or the shared one of pairings made before each got its own.
func (c *Client) identity(name string) (tls.Certificate, error) {
	pemBytes, err := c.o.Store.GetBlob(identityBlob(name))
	if err != nil {
		return tls.Certificate{}, err
	}
	if len(pemBytes) == 0 {
		return c.cert, nil
	}
	return wire.LoadIdentity(pemBytes)
}

// NewPairCode makes a one-time code for the configured agent name, valid
// for CodeTTL: three digits of handle (which pending pairing) and six
// secret ones, shown as 123-456-789.
func (c *Client) NewPairCode(name string) (code string, expires time.Time, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.peers[name]; !ok {
		return "", time.Time{}, fmt.Errorf("%q is not a configured agent (add it under agents: first; configured: %s)", name, strings.Join(c.peerNamesLocked(), ", "))
	}
	now := c.o.Clock.Now()
	c.purgeLocked(now)
	for h, p := range c.codes {
		if p.name == name {
			delete(c.codes, h) // one live code per agent
		}
	}
	var handle string
	for {
		if handle, err = digits(wire.PairHandleDigits); err != nil {
			return "", time.Time{}, err
		}
		if _, taken := c.codes[handle]; !taken {
			break
		}
	}
	secret, err := digits(wire.PairCodeDigits - wire.PairHandleDigits)
	if err != nil {
		return "", time.Time{}, err
	}
	expires = now.Add(c.o.CodeTTL)
	c.codes[handle] = &pending{name: name, code: handle + secret, expires: expires}
	c.o.Log.Info("agent pair code issued", "agent", name, "handle", handle, "expires", expires)
	return wire.FormatCode(handle + secret), expires, nil
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

func digits(n int) (string, error) {
	max := big.NewInt(1)
	for range n {
		max.Mul(max, big.NewInt(10))
	}
	v, err := rand.Int(rand.Reader, max)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", n, v), nil
}

func (c *Client) purgeLocked(now time.Time) {
	for k, p := range c.codes {
		if !now.Before(p.expires) {
			delete(c.codes, k)
		}
	}
	for k, s := range c.sessions {
		if !now.Before(s.expires) {
			delete(c.sessions, k)
		}
	}
}

// pairError is a refusal with its HTTP status.
type pairError struct {
	status int
	msg    string
}

func (e *pairError) Error() string { return e.msg }

var errCodeWrong = &pairError{http.StatusForbidden, "pair code wrong, expired or already used: make a new one with `outpost agent pair-code NAME` on the box"}

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
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if !c.limiter.allow(host, c.o.Clock.Now()) {
			writeJSON(w, http.StatusTooManyRequests, wire.Error{Code: "pair-rate", Error: "too many pairing requests from this address: wait a minute"})
			return
		}
		var req wire.PairRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			writeJSON(w, 400, wire.Error{Error: "pairing request: " + err.Error()})
			return
		}
		var out any
		var err error
		switch req.Step {
		case wire.PairStart:
			out, err = c.pairStart(req, r.RemoteAddr)
		case wire.PairConfirm:
			out, err = c.pairConfirm(req, r.RemoteAddr)
		default:
			err = &pairError{400, fmt.Sprintf("pairing request with step %q (this box speaks pairing protocol %d: update the agent)", req.Step, wire.Version)}
		}
		if err != nil {
			status := http.StatusForbidden
			var pe *pairError
			if errors.As(err, &pe) {
				status = pe.status
			}
			c.o.Log.Warn("agent pairing refused", "from", r.RemoteAddr, "step", req.Step, "hostname", req.Hostname, "err", err)
			writeJSON(w, status, wire.Error{Code: "pair-refused", Error: err.Error()})
			return
		}
		writeJSON(w, 200, out)
	})
}

// pairStart answers the agent's share for the code its handle names.
func (c *Client) pairStart(req wire.PairRequest, remote string) (wire.PairChallenge, error) {
	if err := wire.CheckStart(req); err != nil {
		return wire.PairChallenge{}, &pairError{400, err.Error()}
	}
	now := c.o.Clock.Now()
	c.mu.Lock()
	c.purgeLocked(now)
	p := c.codes[req.Handle]
	full := len(c.sessions) >= maxPairSessions
	c.mu.Unlock()
	if p == nil {
		return wire.PairChallenge{}, errCodeWrong
	}
	if full {
		return wire.PairChallenge{}, &pairError{http.StatusTooManyRequests, "too many pairing exchanges in progress: try again in a minute"}
	}
	// The identity this agent will pin: made now, kept only if the
	// exchange succeeds.
	pemBytes, err := wire.NewIdentity("outpost-box " + c.o.Site + " for " + p.name)
	if err != nil {
		return wire.PairChallenge{}, err
	}
	ident, err := wire.LoadIdentity(pemBytes)
	if err != nil {
		return wire.PairChallenge{}, err
	}
	var id [16]byte
	rand.Read(id[:])
	session := hex.EncodeToString(id[:])
	bp, ch, err := wire.AnswerPairing(p.code, req, c.o.PairTLSFingerprint, ident.Certificate[0], session)
	if err != nil {
		return wire.PairChallenge{}, &pairError{400, err.Error()}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sessions) >= maxPairSessions {
		return wire.PairChallenge{}, &pairError{http.StatusTooManyRequests, "too many pairing exchanges in progress: try again in a minute"}
	}
	c.sessions[session] = &pairSession{p: p, bp: bp, ident: pemBytes, req: req, remote: remote, expires: now.Add(pairSessionTTL)}
	return ch, nil
}

// pairConfirm checks the agent's proof of the code and, if it holds,
// records the pairing and answers with the box's own proof.
func (c *Client) pairConfirm(req wire.PairRequest, remote string) (wire.PairAccepted, error) {
	now := c.o.Clock.Now()
	c.mu.Lock()
	c.purgeLocked(now)
	s := c.sessions[req.Session]
	delete(c.sessions, req.Session) // one confirmation per exchange
	if s == nil {
		c.mu.Unlock()
		return wire.PairAccepted{}, &pairError{http.StatusForbidden, "pairing exchange unknown or expired: run the agent's pairing again"}
	}
	p := s.p
	if c.codes[p.code[:wire.PairHandleDigits]] != p {
		c.mu.Unlock()
		return wire.PairAccepted{}, errCodeWrong
	}
	if !s.bp.Check(req) {
		p.failures++
		left := maxPairFailures - p.failures
		if left <= 0 {
			delete(c.codes, p.code[:wire.PairHandleDigits])
		}
		c.mu.Unlock()
		if left <= 0 {
			c.o.Log.Warn("agent pair code voided: too many wrong codes for it", "agent", p.name, "failures", p.failures, "last_from", remote)
			return wire.PairAccepted{}, &pairError{http.StatusForbidden, fmt.Sprintf("pair code wrong; after %d wrong attempts this code is void: make a new one with `outpost agent pair-code %s` on the box", maxPairFailures, p.name)}
		}
		return wire.PairAccepted{}, errCodeWrong
	}
	delete(c.codes, p.code[:wire.PairHandleDigits]) // one-time, whatever happens next
	for k, o := range c.sessions {
		if o.p == p {
			delete(c.sessions, k)
		}
	}
	peer := c.peers[p.name]
	if old, ok := c.conns[p.name]; ok {
		old.http.CloseIdleConnections()
		delete(c.conns, p.name)
	}
	delete(c.synced, p.name)
	c.mu.Unlock()

	addr := peer.Address
	if addr == "" {
		addr = learnAddress(remote, s.req.Listen)
	}
	if err := c.o.Store.PutBlob(identityBlob(p.name), s.ident); err != nil {
		return wire.PairAccepted{}, fmt.Errorf("saving the pairing identity: %w", err)
	}
	if err := c.o.Store.PutBlob(revocationBlob(p.name), nil); err != nil {
		return wire.PairAccepted{}, fmt.Errorf("clearing an old revocation: %w", err)
	}
	rec := checks.AgentPairing{Name: p.name, CertFingerprint: wire.Fingerprint(s.req.Cert), Address: addr, Hostname: s.req.Hostname, OS: s.req.OS, PairedAt: now.UTC()}
	if err := c.o.Store.PutAgent(rec); err != nil {
		return wire.PairAccepted{}, fmt.Errorf("saving the pairing: %w", err)
	}
	acc, err := s.bp.Accept(wire.PairResponse{Name: p.name, Site: c.o.Site, Policy: peer.policy()})
	if err != nil {
		return wire.PairAccepted{}, err
	}
	c.o.Log.Info("agent paired (it proved the pair code)", "agent", rec.Name, "hostname", rec.Hostname, "os", rec.OS, "address", rec.Address, "fingerprint", rec.CertFingerprint)
	select {
	case c.newPair <- struct{}{}:
	default:
	}
	return acc, nil
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

// limiter is a token bucket per source address. Its table is bounded:
// past maxLimited addresses, full buckets are dropped, and if none is,
// new addresses share one bucket.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	refill  time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

const maxLimited = 1024

func newLimiter(burst int, refill time.Duration) *limiter {
	return &limiter{burst: float64(burst), refill: refill, buckets: map[string]*bucket{}}
}

// allow takes a token for host; false means the request is refused.
func (l *limiter) allow(host string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[host]
	if b == nil {
		if len(l.buckets) >= maxLimited {
			for k, o := range l.buckets {
				if l.level(o, now) >= l.burst {
					delete(l.buckets, k)
				}
			}
		}
		if len(l.buckets) >= maxLimited {
			host = "overflow"
			if b = l.buckets[host]; b == nil {
				b = &bucket{tokens: l.burst, at: now}
				l.buckets[host] = b
			}
		} else {
			b = &bucket{tokens: l.burst, at: now}
			l.buckets[host] = b
		}
	}
	b.tokens, b.at = l.level(b, now), now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) level(b *bucket, now time.Time) float64 {
	return min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.refill))
}
