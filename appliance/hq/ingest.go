package hq

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"outpost/appliance/phonehome/wire"
)

type httpError struct {
	code     int
	msg      string
	retry    int            // seconds, for Retry-After
	conflict *wire.Conflict // the 409 body
	unread   bool           // refused before the body was read
}

func (e *httpError) Error() string { return e.msg }

func fail(code int, format string, args ...any) *httpError {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// early marks a refusal made before the body was read: the connection
// is closed rather than drained.
func early(e *httpError) *httpError { e.unread = true; return e }

// Handler serves the summaries endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/summaries", s.Ingest)
	s.ackRoutes(mux)
	return mux
}

// Ingest is the summaries endpoint. Everything that costs the receiver
// more than the headers comes after the box is known: the id header
// names a registered box (else 401 before reading), the body's declared
// size is at most MaxBody (else 413), and the gate has room for it
// (else 503 with Retry-After). The body is then read against a deadline
// and its signature verified before it is decompressed.
func (s *Server) Ingest(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rep, err := s.ingest(w, r)
	s.metrics.ingest.Observe(time.Since(start).Seconds())
	outcome := "stored"
	switch he, _ := errors.AsType[*httpError](err); {
	case err == nil && rep.Duplicate:
		outcome = "duplicate"
	case he != nil && he.code == http.StatusConflict:
		outcome = "conflict"
	case err != nil:
		outcome = "refused"
	}
	s.metrics.summaries.WithLabelValues(outcome).Inc()
	if err != nil {
		he, ok := errors.AsType[*httpError](err)
		if !ok {
			he = &httpError{code: http.StatusInternalServerError, msg: err.Error()}
		}
		box := plain(r.Header.Get(wire.HeaderBox))
		if he.code >= 500 && he.code != http.StatusServiceUnavailable {
			s.log.Error("hq: ingest failed", "box", box, "err", err)
		} else if n := s.refusals.allow(s.clock.Mono()); n >= 0 {
			s.log.Warn("hq: summary refused", "box", box, "from", r.RemoteAddr, "code", he.code, "err", he.msg, "not_logged_before", n)
		}
		if he.retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(he.retry))
		}
		if he.unread {
			w.Header().Set("Connection", "close")
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(he.code)
		if he.conflict != nil {
			json.NewEncoder(w).Encode(he.conflict)
		} else {
			json.NewEncoder(w).Encode(map[string]string{"error": he.msg})
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rep)
}

// request is what the headers of a summary request say.
type request struct {
	box    string
	seq    uint64
	at     string
	signed time.Time
	sig    string
}

func parseHeaders(h http.Header) (request, *httpError) {
	q := request{box: h.Get(wire.HeaderBox), at: h.Get(wire.HeaderTime), sig: h.Get(wire.HeaderSignature)}
	var err error
	q.seq, err = strconv.ParseUint(h.Get(wire.HeaderSeq), 10, 64)
	if !wire.ValidBoxID(q.box) || err != nil || q.seq == 0 || q.seq > math.MaxInt64 {
		return q, fail(http.StatusBadRequest, "missing or bad %s / %s headers", wire.HeaderBox, wire.HeaderSeq)
	}
	if h.Get(wire.HeaderIdem) != wire.IdempotencyKey(q.box, q.seq) {
		return q, fail(http.StatusBadRequest, "%s must be %q", wire.HeaderIdem, wire.IdempotencyKey(q.box, q.seq))
	}
	if q.signed, err = time.Parse(time.RFC3339Nano, q.at); err != nil {
		return q, fail(http.StatusBadRequest, "%s: %v", wire.HeaderTime, err)
	}
	if b, err := base64.StdEncoding.DecodeString(q.sig); err != nil || len(b) != ed25519.SignatureSize {
		return q, fail(http.StatusUnauthorized, "box %s: signature header is not a base64 ed25519 signature", q.box)
	}
	return q, nil
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// outcome is what the store made of an authenticated summary.
type outcome int

const (
	stored outcome = iota
	duplicate
	conflicting
)

func (s *Server) ingest(w http.ResponseWriter, r *http.Request) (wire.Reply, error) {
	var rep wire.Reply
	q, he := parseHeaders(r.Header)
	if he != nil {
		return rep, early(he)
	}
	// One look at the store before the body: the box, and whether this
	// sequence number is known already (a retry of a stored summary, or
	// one refused, is judged by its hash alone and not decoded).
	var box Box
	var ok, known bool
	if err := s.db.View(func(tx Tx) (err error) {
		if box, ok, err = tx.Box(q.box); err != nil || !ok {
			return err
		}
		e, err := tx.Entry(q.box, q.seq)
		known = q.seq <= box.Floor || e != nil
		return err
	}); err != nil {
		return rep, err
	}
	if !ok {
		return rep, early(fail(http.StatusUnauthorized, "box %s is not registered (outpost hq register)", q.box))
	}
	pub, err := wire.ParsePublicKey(box.Key)
	if err != nil {
		return rep, fmt.Errorf("box %s: registered key: %w", q.box, err)
	}
	n := r.ContentLength
	switch {
	case n < 0:
		return rep, early(fail(http.StatusLengthRequired, "a summary needs a Content-Length"))
	case n > MaxBody:
		return rep, early(fail(http.StatusRequestEntityTooLarge, "summary over %d bytes", MaxBody))
	case n == 0:
		return rep, early(fail(http.StatusBadRequest, "empty body"))
	}
	release, busy := s.gate.admit(q.box, clientAddr(r), bodySize(n))
	if release == nil {
		e := early(fail(http.StatusServiceUnavailable, "receiver busy: %s", busy))
		e.retry = 2
		return rep, e
	}
	defer release()
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(s.clock.Now().Add(s.lim.UploadTimeout)) == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	buf := getBody(n)
	defer putBody(buf)
	body := *buf
	if _, err := io.ReadFull(http.MaxBytesReader(w, r.Body, MaxBody), body); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return rep, fail(http.StatusRequestTimeout, "the body did not arrive within %s", s.lim.UploadTimeout)
		}
		return rep, fail(http.StatusBadRequest, "reading the body: %v", err)
	}
	if err := wire.Verify(pub, q.box, q.seq, q.at, q.sig, body); err != nil {
		return rep, fail(http.StatusUnauthorized, "box %s: %v", q.box, err)
	}
	hash := sha256.Sum256(body)

	// Decode only what is new.
	var sum *wire.Summary
	if !known {
		sm, err := s.decodeBody(r, body)
		if err != nil {
			return rep, fail(http.StatusBadRequest, "box %s summary %d: %v", q.box, q.seq, err)
		}
		if sm.Box.ID != q.box || sm.Seq != q.seq {
			return rep, fail(http.StatusBadRequest, "summary says box %s seq %d, headers box %s seq %d", sm.Box.ID, sm.Seq, q.box, q.seq)
		}
		sum = &sm
	}

	now := s.clock.Now().UTC()
	var out outcome
	var why string
	var b Box
	var gap uint64
	// Batch: concurrent boxes share one commit (one fsync). bbolt may
	// run the function again, so it sets everything it reports.
	err = s.db.Batch(func(tx Tx) error {
		var err error
		if b, _, err = tx.Box(q.box); err != nil {
			return err
		}
		rep, gap = wire.Reply{Ack: q.seq, AckBase: s.publicURL}, 0
		fresh := q.signed.After(b.LastSigned)
		if fresh {
			// The box signs every attempt anew, so a retry is news of it;
			// a request replayed as captured is not.
			b.LastSigned, b.LastSeen = q.signed, now
		}
		e, err := tx.Entry(q.box, q.seq)
		if err != nil {
			return err
		}
		switch {
		case e != nil && e.Hash == hash:
			// Sent again after a lost reply or a crash: already stored.
			// Its reply may be what was lost: the pending commands again.
			out = duplicate
			rep.Duplicate = true
			b.Duplicates++
			if err := attach(tx, &b, &rep, now); err != nil {
				return err
			}
			return tx.PutBox(b)
		case e != nil:
			out, why = conflicting, fmt.Sprintf("body SHA-256 %.16s… differs from the stored %.16s…", hex.EncodeToString(hash[:]), hex.EncodeToString(e.Hash[:]))
		case q.seq <= b.Floor:
			out, why = conflicting, fmt.Sprintf("at or below seq %d, up to which retention removed what was stored: it cannot be compared", b.Floor)
		case sum == nil:
			// Pruned between the look and now: the floor case next time.
			return errRetry
		default:
			out = stored
		}
		if out == conflicting {
			// Below the floor, a request signed earlier than the box's
			// newest is a captured one replayed: refused, not counted.
			if q.seq > b.Floor || fresh {
				b.Conflicts++
				b.LastConflict = &Conflict{Seq: q.seq, At: now, Reason: why}
			}
			return tx.PutBox(b)
		}
		if err := s.store(tx, &b, q.seq, body, *sum, now); err != nil {
			return err
		}
		b.LastSeen, b.LastStored = now, now
		if err := confirm(tx, &b, sum.Commands, q.seq, now); err != nil {
			return err
		}
		if q.seq > b.LastSeq {
			if q.seq > b.LastSeq+1 && b.LastSeq > 0 {
				gap = q.seq - b.LastSeq - 1
			}
			b.LastSeq = q.seq
			b.Site, b.Version, b.Interval, b.Health, b.Open, b.Lost = plain(sum.Box.Site), plain(sum.Box.Version), sum.Interval, sum.Health, len(sum.OpenIncidents), sum.Lost.Total
			b.Behind = max(0, sum.BoxHealth.ChecksBehind)
			b.ClockProblem = clockProblem(sum.BoxHealth.Clock)
			b.LastFirmware = nil
			if f := sum.BoxHealth.LastFirmware; f != nil {
				b.LastFirmware = &wire.Event{Time: f.Time, Result: plain(f.Result), Detail: plain(f.Detail)}
			}
			b.NotifyFailing, b.OpenCritical = nil, 0
			for i, f := range sum.BoxHealth.NotifyFailing {
				if i == 8 {
					break
				}
				b.NotifyFailing = append(b.NotifyFailing, wire.ChannelFailure{Channel: plain(f.Channel), Failures: max(f.Failures, 0), Since: f.Since, Error: plain(f.Error)})
			}
			for _, inc := range sum.OpenIncidents {
				if inc.Severity == "critical" && inc.Acked == nil {
					b.OpenCritical++
				}
			}
			if err := tx.PutLatest(q.box, digestOf(*sum)); err != nil {
				return err
			}
		}
		if err := attach(tx, &b, &rep, now); err != nil {
			return err
		}
		if err := s.prune(tx, &b, now); err != nil {
			return err
		}
		return tx.PutBox(b)
	})
	if errors.Is(err, errRetry) {
		e := fail(http.StatusServiceUnavailable, "summary %d expired while it was checked; send it again", q.seq)
		e.retry = 1
		return wire.Reply{}, e
	}
	if err != nil {
		return wire.Reply{}, err
	}
	switch {
	case out == conflicting:
		s.log.Warn("hq: summary conflicts with the one stored under its sequence number; kept what was stored",
			"box", q.box, "seq", q.seq, "reason", why, "conflicts", b.Conflicts)
		return wire.Reply{}, &httpError{code: http.StatusConflict, msg: "summary " + strconv.FormatUint(q.seq, 10) + " refused: " + why,
			conflict: &wire.Conflict{Error: fmt.Sprintf("summary %d refused: %s; this receiver keeps what it holds (a box restored from a backup, or two boxes with one identity?)", q.seq, why), Seq: q.seq, LastSeq: b.LastSeq}}
	case gap > 0:
		s.log.Info("hq: sequence numbers skipped (the box's outbox quota, or still to come)", "box", q.box, "seq", q.seq, "skipped", gap)
	}
	return rep, nil
}

var errRetry = errors.New("retry")

// plain is text from a box or a stranger made fit for logs, pages and
// `hq list` on a terminal: no control characters, at most 200 bytes.
func plain(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// logBudget lets a flood of refused requests write a bounded number of
// log lines: perMinute lines a minute, then one that says how many
// were not logged.
type logBudget struct {
	mu         sync.Mutex
	perMinute  int
	start      time.Duration
	used, lost int
}

// allow reports whether to log now, with the number of refusals not
// logged since the last line; -1 means do not log.
func (l *logBudget) allow(now time.Duration) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now-l.start >= time.Minute {
		l.start, l.used = now, 0
	}
	if l.used >= l.perMinute {
		l.lost++
		return -1
	}
	l.used++
	n := l.lost
	l.lost = 0
	return n
}

// decodeBody decompresses and decodes an authenticated body, a few at a
// time (CPU work on up to wire.MaxSummary bytes each).
func (s *Server) decodeBody(r *http.Request, body []byte) (wire.Summary, error) {
	select {
	case s.decode <- struct{}{}:
	case <-r.Context().Done():
		return wire.Summary{}, r.Context().Err()
	}
	defer func() { <-s.decode }()
	return wire.Decode(body)
}

// store writes a new summary, its index entry and the box's totals.
func (s *Server) store(tx Tx, b *Box, seq uint64, body []byte, sum wire.Summary, now time.Time) error {
	if err := tx.PutSummary(b.ID, seq, body, entryOf(body, sum, now)); err != nil {
		return err
	}
	b.Summaries++
	b.Stored++
	b.StoredBytes += uint64(len(body))
	return nil
}

func entryOf(body []byte, sum wire.Summary, received time.Time) entry {
	return entry{Hash: sha256.Sum256(body), Received: received, Size: uint32(len(body)), Time: sum.Time, Health: sum.Health,
		Open: len(sum.OpenIncidents), Closed: len(sum.ClosedIncidents), Reason: sum.Reason}
}

// digest is the newest summary as the site's page shows it, kept at
// ingest so the page decodes no summary.
type digest struct {
	Seq      uint64          `json:"seq"`
	Time     time.Time       `json:"time"`
	Open     []wire.Incident `json:"open"`
	MoreOpen int             `json:"more_open,omitempty"`
	SLA      wire.SLA        `json:"sla"`
	Lost     wire.Lost       `json:"lost"`
	// Capacity are the series in capacity trouble, with their forecasts
	// (absent from older boxes' summaries).
	Capacity []wire.Capacity `json:"capacity,omitempty"`
}

// digestIncidents bounds the open incidents a digest keeps;
// digestCapacity the capacity entries.
const (
	digestIncidents = 500
	digestCapacity  = 100
)

func digestOf(sum wire.Summary) digest {
	d := digest{Seq: sum.Seq, Time: sum.Time, SLA: sum.SLA, Lost: sum.Lost}
	for i, inc := range sum.OpenIncidents {
		if i == digestIncidents {
			d.MoreOpen = len(sum.OpenIncidents) - i
			break
		}
		inc.Timeline = nil
		d.Open = append(d.Open, inc)
	}
	d.Capacity = sum.Capacity[:min(len(sum.Capacity), digestCapacity)]
	return d
}
