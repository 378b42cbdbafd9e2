// Package phonehome sends the box's summaries to the MSP over HTTPS:
// store first, send after, in order, until acknowledged, with backoff,
// the outbox quota coalescing the oldest, and replies (bundles, firmware
// notices, inventory requests) honoured under the pinned MSP key. What
// the box and the receiver (`outpost hq`, appliance/hq) both speak is in
// wire; the summary is built in summary.
package phonehome

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
	"outpost/firmware/bundle"
)

// Signer is the box identity as phone home needs it.
type Signer interface {
	ID() string
	Sign(msg []byte) []byte
}

// Bundles is provisioning as phone home needs it (the provisioner):
// replies may carry a bundle, applied only under the pinned MSP key.
type Bundles interface {
	// PinnedKey is the MSP key bundles and firmware notices must be
	// signed with; ok is false while the box trusts no key.
	PinnedKey() (key ed25519.PublicKey, ok bool)
	Applier
}

// Applier applies a bundle (the provisioner's ApplyBundle through the
// daemon's adapter): err is non-nil when it was refused, and nothing
// but the record of the attempt changed.
type Applier interface {
	Apply(ctx context.Context, data []byte, source string) error
}

// Acks acknowledges incidents for the receiver (an Ack command): a
// link's token is verified by the box (signature, expiry, single use)
// as on its own acknowledge page.
type Acks interface {
	// Acknowledge acts on a relayed acknowledgement and says what was
	// done; an error says why it was refused.
	Acknowledge(a wire.Ack) (string, error)
}

// Options configure phone home.
type Options struct {
	URL string
	// CAFile (a PEM file on the box) or CAPEM (PEM text, as a bundle
	// carries it) is the receiver's CA; with neither the system's roots
	// are trusted. At most one of them.
	CAFile, CAPEM string
	// Pins are the SHA-256 of the receiver's key (its certificate's
	// SubjectPublicKeyInfo), base64: the receiver must present a
	// certificate for one of these keys. Without a CA the pin alone
	// decides (a self-signed receiver: its certificate's names and dates
	// are not judged); with one, the chain is verified too.
	Pins     []string
	Interval time.Duration
	// Quota bounds the outbox in bytes (oldest summaries coalesced).
	Quota int64
	// BackoffMax caps the wait between attempts (default 5 minutes).
	BackoffMax time.Duration
	// Timeout bounds one request (default 30 s).
	Timeout time.Duration
	Outbox  Outbox
	// Commands keeps what became of the receiver's commands across
	// restarts; nil keeps it in memory only.
	Commands CommandLog
	Signer   Signer
	Bundles  Bundles
	// Build makes a summary (the daemon knows what is in it).
	Build func(reason string, seq uint64, m Meta, full bool) (wire.Summary, map[string]string, error)
	// Acks acts on acknowledgements the receiver relays; nil refuses
	// them.
	Acks Acks
	// OnFirmware is told about a verified firmware notice; an error
	// refuses it (the command's result says why).
	OnFirmware func(wire.FirmwareNotice) error
	Clock      clock.Clock
	Log        *slog.Logger
}

// Status is what `outpost phonehome status` shows.
type Status struct {
	URL     string `json:"url"`
	Depth   int    `json:"depth"`
	Bytes   int64  `json:"bytes"`
	Quota   int64  `json:"quota"`
	NextSeq uint64 `json:"next_seq"`
	Lost    uint64 `json:"lost"`
	// LostDetail is the loss as the next summary reports it: the
	// sequence numbers dropped and their coalesced figures.
	LostDetail  wire.Lost `json:"lost_detail"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastAck     uint64    `json:"last_ack,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Failures    int       `json:"consecutive_failures"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	Duplicates  int       `json:"duplicates_acked"`
	// Renumbered counts the times the receiver's 409 made the box number
	// its queue on past the receiver's newest (a box restored from an
	// old backup); LastRenumber says the last one.
	Renumbered   int    `json:"renumbered,omitempty"`
	LastRenumber string `json:"last_renumber,omitempty"`
	// Commands are the receiver's commands handled and listed in
	// summaries until a reply no longer carries them.
	Commands []wire.CommandResult `json:"commands,omitempty"`
	// AckBase is where the receiver serves acknowledge pages: the box's
	// acknowledge links point there while it is set.
	AckBase string `json:"ack_base,omitempty"`
}

// Phone builds, stores and sends summaries.
type Phone struct {
	o      Options
	client *http.Client
	kick   chan string
	wake   chan struct{}
	full   atomic.Bool

	mu sync.Mutex
	st Status

	// cmdMu guards cmds, the commands handled (commands.go), and
	// ackBase, the receiver's acknowledge pages (ackbase.go).
	cmdMu   sync.Mutex
	cmds    []wire.CommandResult
	ackBase string
}

// New checks the options and prepares the HTTPS client (proxy from
// HTTPS_PROXY/NO_PROXY, the pinned CA when given).
func New(o Options) (*Phone, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 5 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Quota <= 0 {
		o.Quota = 20 << 20
	}
	// hq's certificate is CA-signed and Go checks its dates against
	// tls.Config.Time. A box without a real-time clock boots at 1970 (or
	// a stale saved time) and would refuse every valid certificate as
	// not yet valid until NTP sets the clock, so the box clock
	// (Options.Clock: the real clock in the daemon, a fake one in tests)
	// is used only when plausible and raised to clock.MinPlausible when
	// it reads earlier. A clock in the future is used as it reads and
	// still refuses an expired certificate; a clock in the past refuses
	// a certificate issued after MinPlausible. Both are the safe side and
	// clear once NTP sets the clock (phone home retries with backoff).
	// The one thing a clock before MinPlausible accepts that a correct
	// clock would refuse is a certificate that expired between
	// MinPlausible and the true date; chain and host name are checked as
	// always.
	box := o.Clock
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, Time: func() time.Time {
		if t := box.Now(); clock.Plausible(t) {
			return t
		}
		return clock.MinPlausible
	}}
	if err := trustReceiver(tlsCfg, o); err != nil {
		return nil, err
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true,
		MaxIdleConns: 2, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 15 * time.Second}
	p := &Phone{o: o, client: &http.Client{Transport: tr, Timeout: o.Timeout}, kick: make(chan string, 8), wake: make(chan struct{}, 1)}
	p.st.URL, p.st.Quota = o.URL, o.Quota
	p.loadCommands()
	return p, nil
}

// DownloadClient is the phone's HTTP client (its proxy and its trust in
// the receiver's certificate) without the per-request timeout, for
// downloads a signed reply names: the caller bounds them.
func (p *Phone) DownloadClient() *http.Client {
	c := *p.client
	c.Timeout = 0
	return &c
}

// trustReceiver sets whom the box's TLS client believes: the CA of
// CAFile or CAPEM (else the system's roots), and with Pins, only a
// receiver presenting one of the pinned keys. A pinned key without a CA
// is trusted as it is, like an SSH host key: the handshake proves the
// receiver holds it, so the certificate's names and dates add nothing.
func trustReceiver(cfg *tls.Config, o Options) error {
	var pemText []byte
	var from string
	switch {
	case o.CAFile != "" && o.CAPEM != "":
		return errors.New("phone home CA: ca_file and ca_pem are both set; give one")
	case o.CAFile != "":
		b, err := os.ReadFile(o.CAFile)
		if err != nil {
			return fmt.Errorf("phone home CA: %w", err)
		}
		pemText, from = b, o.CAFile
	case o.CAPEM != "":
		pemText, from = []byte(o.CAPEM), "phonehome.ca_pem"
	}
	if pemText != nil {
		certs, err := wire.ParseCertificates(pemText)
		if err != nil {
			return fmt.Errorf("phone home CA %s: %w", from, err)
		}
		pool := x509.NewCertPool()
		for _, c := range certs {
			pool.AddCert(c)
		}
		cfg.RootCAs = pool
	}
	if len(o.Pins) == 0 {
		return nil
	}
	pins := map[wire.Pin]bool{}
	for _, s := range o.Pins {
		p, err := wire.ParsePin(s)
		if err != nil {
			return fmt.Errorf("phone home pin_sha256: %w", err)
		}
		pins[p] = true
	}
	// Without a CA the pin is all there is to check, so Go's chain
	// verification (which a self-signed receiver fails) is off and
	// VerifyConnection decides; with a CA, Go verifies the chain first.
	cfg.InsecureSkipVerify = pemText == nil
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the receiver presented no certificate")
		}
		if got := wire.PinOf(cs.PeerCertificates[0]); !pins[got] {
			return fmt.Errorf("the receiver's key (pin %s) is none of those phonehome.pin_sha256 pins", got)
		}
		return nil
	}
	return nil
}

// Kick asks for a summary now (an incident opened or resolved).
func (p *Phone) Kick(reason string) {
	select {
	case p.kick <- reason:
	default: // one is coming anyway
	}
}

// Status returns the queue and the last outcomes.
func (p *Phone) Status() Status {
	n, b, _ := p.o.Outbox.PhoneDepth()
	m, _ := p.o.Outbox.PhoneMeta()
	cmds := p.commandResults()
	base := p.AckBase()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.st
	s.Commands, s.AckBase = cmds, base
	s.Depth, s.Bytes, s.NextSeq, s.Lost, s.LostDetail = n, b, m.NextSeq, m.Lost, lostOf(m)
	if s.LastSuccess.IsZero() && m.AckedAt != "" {
		// Nothing sent since this process started: the stored last success.
		s.LastSuccess, _ = time.Parse(time.RFC3339Nano, m.AckedAt)
		s.LastAck = m.Acked
	}
	if s.LastError == "" && m.LastError != "" {
		// Nothing tried since this process started: the stored failure.
		s.LastError, s.Failures = m.LastError, m.Failures
		s.LastErrorAt, _ = time.Parse(time.RFC3339Nano, m.LastErrorAt)
	}
	return s
}

// Run builds summaries every interval and on kicks, and sends them,
// until ctx ends.
func (p *Phone) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() { p.sendLoop(ctx); close(done) }()
	p.enqueue("start")
	t := p.o.Clock.NewTimer(p.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return
		case <-t.C():
			p.enqueue("interval")
			t.Reset(p.o.Interval)
		case reason := <-p.kick:
			p.enqueue(reason)
		}
	}
}

// enqueue builds a summary and stores it; it reaches the MSP later.
func (p *Phone) enqueue(reason string) {
	now := p.o.Clock.Now().UTC()
	full := p.full.Swap(false)
	_, err := p.o.Outbox.PhoneAppend(p.o.Quota, now.Format(time.RFC3339Nano), func(seq uint64, m Meta) ([]byte, map[string]string, error) {
		// A full inventory is due after the quota dropped inventory changes.
		s, inv, err := p.o.Build(reason, seq, m, full || m.InventoryDue)
		if err != nil {
			return nil, nil, err
		}
		s.Schema, s.Seq, s.Time, s.Reason = wire.Schema, seq, now, reason
		s.Interval = int(p.o.Interval / time.Second)
		s.Lost = lostOf(m)
		s.Commands = p.commandResults()
		body, err := wire.Encode(s)
		return body, inv, err
	}, Fold)
	if err != nil {
		if full {
			p.full.Store(true)
		}
		p.o.Log.Error("phone home: summary not stored", "err", err)
		return
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Phone) sendLoop(ctx context.Context) {
	for ctx.Err() == nil {
		e, ok, err := p.o.Outbox.PhoneOldest()
		if err != nil {
			p.o.Log.Error("phone home: outbox unreadable", "err", err)
		}
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
			}
			continue
		}
		retryAfter, err := p.send(ctx, e)
		if err == nil {
			if err := p.o.Outbox.PhoneAcked(e.Seq, p.o.Clock.Now().UTC().Format(time.RFC3339Nano)); err != nil {
				p.o.Log.Error("phone home: outbox", "err", err)
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		p.st.Failures++
		delay := p.backoff(p.st.Failures)
		if retryAfter > delay {
			delay = retryAfter
		}
		p.st.LastError, p.st.LastErrorAt, p.st.NextAttempt = err.Error(), p.o.Clock.Now(), p.o.Clock.Now().Add(delay)
		n := p.st.Failures
		p.mu.Unlock()
		if n == 1 || n%10 == 0 {
			// Kept across a restart (not every attempt: each is a commit).
			p.o.Outbox.PhoneFailed(n, err.Error(), p.o.Clock.Now().UTC().Format(time.RFC3339Nano))
		}
		if n == 1 || n%20 == 0 {
			p.o.Log.Warn("phone home: send failed; the summary stays queued", "seq", e.Seq, "attempt", n, "retry_in", delay.Round(time.Millisecond), "err", err)
		}
		t := p.o.Clock.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// backoff is exponential with full jitter: uniform in [0, min(cap,
// 1s·2^n)), so a fleet coming back from an outage does not send in step.
func (p *Phone) backoff(n int) time.Duration {
	ceil := p.o.BackoffMax
	if n < 30 {
		if d := time.Second << n; d < ceil {
			ceil = d
		}
	}
	return time.Duration(rand.Int64N(int64(ceil)) + 1)
}

// send posts one summary; a Retry-After from the receiver comes back
// with the error.
func (p *Phone) send(ctx context.Context, e Entry) (time.Duration, error) {
	box := p.o.Signer.ID()
	at := p.o.Clock.Now().UTC().Format(time.RFC3339Nano)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.o.URL, bytes.NewReader(e.Body))
	if err != nil {
		return 0, fmt.Errorf("summary %d request: %w", e.Seq, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	wire.Sign(req.Header, box, e.Seq, at, e.Body, p.o.Signer.Sign)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4*bundle.MaxFileSize))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		ra := retryAfter(resp.Header.Get("Retry-After"), p.o.Clock.Now())
		return ra, fmt.Errorf("receiver busy (%s), retry after %s", resp.Status, ra)
	case resp.StatusCode == http.StatusConflict:
		return 0, p.conflict(e, resp.Status, data)
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("receiver answered %s: %s", resp.Status, snippet(data))
	}
	var rep wire.Reply
	if err := json.Unmarshal(data, &rep); err != nil {
		return 0, fmt.Errorf("receiver's reply is not JSON: %w", err)
	}
	if rep.Ack != e.Seq {
		return 0, fmt.Errorf("receiver acknowledged summary %d, not %d", rep.Ack, e.Seq)
	}
	p.mu.Lock()
	p.st.Failures, p.st.LastSuccess, p.st.LastAck, p.st.NextAttempt = 0, p.o.Clock.Now(), e.Seq, time.Time{}
	if rep.Duplicate {
		p.st.Duplicates++
	}
	p.mu.Unlock()
	p.handleReply(ctx, rep)
	return 0, nil
}

func (p *Phone) handleReply(ctx context.Context, rep wire.Reply) {
	p.setAckBase(rep.AckBase)
	p.handleCommands(ctx, rep.Commands)
}

// retryAfter reads a Retry-After header (seconds or an HTTP date),
// capped at an hour; 0 when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, time.Hour))
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		return "(no body)"
	}
	return s
}
