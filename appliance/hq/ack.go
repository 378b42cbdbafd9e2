package hq

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
	hqui "outpost/ui/hq"
)

// Acknowledging from anywhere. With --public-url, every reply tells the
// boxes where this receiver serves acknowledge pages, and their links
// point at /ack/<box>/<token> here. The token is the box's own, signed
// with a key only the box holds: the receiver cannot make or check one,
// so it shows the incident from the box's newest summary, and a POST
// (no login: the token is the credential, as on the box) queues an ack
// command for the box. The box verifies the token (signature, expiry,
// single use) and lists what it did in its next summary; the page then
// shows the box's answer. A person logged in to the fleet pages
// acknowledges from the site's page without a token (AckIncident).

// maxPendingAcks bounds the acknowledgements waiting for one box: a
// stranger who knows a box id can post made-up tokens, which wait here
// until the box refuses them, and must not crowd out the other
// commands (a box reads wire.MaxCommands from a reply).
const maxPendingAcks = 5

// ErrTooManyAcks is returned while maxPendingAcks wait for the box.
var ErrTooManyAcks = errors.New("enough acknowledgements already wait for this box's next summary; try again in a few minutes")

// Per client address: at most ackPerAddr acknowledgements posted per
// ackWindow.
const (
	ackPerAddr = 10
	ackWindow  = time.Minute
)

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// QueueAck queues an acknowledgement for a box. A link whose
// acknowledgement is pending already, or an incident a user's is pending
// for, gets that command back rather than a second one.
func (s *Server) QueueAck(id string, a wire.Ack) (Command, error) {
	a.By = plain(a.By)
	if len(a.By) > wire.MaxAckBy {
		a.By = strings.ToValidUTF8(a.By[:wire.MaxAckBy], "")
	}
	var hash, what string
	switch a.Via {
	case wire.AckViaLink:
		inc, _, ok := wire.AckTokenInfo(a.Token)
		if !ok {
			return Command{}, errors.New("this acknowledge link is damaged: it carries no token of a box")
		}
		a.Incident, hash = inc, tokenHash(a.Token)
		what = fmt.Sprintf("acknowledge incident %d (link, by %s)", inc, dashIfEmpty(a.By))
	case wire.AckViaUser:
		a.Token = ""
		what = fmt.Sprintf("acknowledge incident %d (hq user %s)", a.Incident, a.By)
	default:
		return Command{}, fmt.Errorf("acknowledgement via %q: link or user", a.Via)
	}
	var out Command
	err := s.db.Update(func(tx Tx) error {
		b, ok, err := tx.Box(id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no box %q is registered", id)
		}
		if a.Via == wire.AckViaUser {
			d, err := tx.Latest(id)
			if err != nil {
				return err
			}
			if d == nil || !listsOpen(d.Open, a.Incident) {
				return fmt.Errorf("incident %d is not open in the box's newest summary", a.Incident)
			}
		}
		pending := 0
		for _, c := range b.Commands {
			if !c.Pending() || c.Kind != wire.KindAck {
				continue
			}
			if (hash != "" && c.TokenHash == hash) || (hash == "" && c.Via == wire.AckViaUser && c.Incident == a.Incident) {
				out = c
				return nil
			}
			pending++
		}
		if pending >= maxPendingAcks {
			return ErrTooManyAcks
		}
		c, err := s.queue(tx, &b, wire.Command{Ack: &a}, wire.KindAck, what, s.clock.Now().UTC())
		if err != nil {
			return err
		}
		for i := range b.Commands {
			if b.Commands[i].ID == c.ID {
				b.Commands[i].Incident, b.Commands[i].By, b.Commands[i].Via, b.Commands[i].TokenHash = a.Incident, a.By, a.Via, hash
				out = b.Commands[i]
			}
		}
		return tx.PutBox(b)
	})
	if err == nil {
		s.log.Info("hq: acknowledgement queued for the box", "box", id, "command", out.ID, "incident", a.Incident, "via", a.Via, "by", a.By)
	}
	return out, err
}

// AckIncident queues the acknowledgement of a person logged in to the
// fleet pages (hqui.Source).
func (s *Server) AckIncident(id string, incident uint64, by string) error {
	_, err := s.QueueAck(id, wire.Ack{Via: wire.AckViaUser, Incident: incident, By: by})
	return err
}

func listsOpen(open []wire.Incident, id uint64) bool {
	for _, inc := range open {
		if inc.ID == id {
			return true
		}
	}
	return false
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "someone"
	}
	return s
}

func (s *Server) ackRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /hq.css", hqui.ServeStylesheet)
	mux.HandleFunc("GET /ack/{box}/{token}", s.ackGet)
	mux.HandleFunc("POST /ack/{box}/{token}", s.ackPost)
}

// ackHeaders are the fleet pages' headers, and a Referer only to this
// receiver (the link's token is in the address; a POST still carries
// its Origin, which ackPost checks).
func ackHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

// ackView is what the page shows of a link: the incident as the box's
// newest summary lists it, and the newest acknowledgement queued with
// this token, if any.
func (s *Server) ackView(box, token string) (hqui.AckView, int, error) {
	v := hqui.AckView{Box: box, Title: "Acknowledge"}
	inc, exp, ok := wire.AckTokenInfo(token)
	if !wire.ValidBoxID(box) || !ok {
		v.Title, v.State, v.Error = "Link not valid", hqui.AckInvalid, "this acknowledge link is damaged; open the message again, or the box's web UI"
		return v, http.StatusNotFound, nil
	}
	v.IncidentID, v.Expires = inc, exp
	hash := tokenHash(token)
	found := false
	err := s.db.View(func(tx Tx) error {
		b, ok, err := tx.Box(box)
		if err != nil || !ok {
			return err
		}
		found = true
		v.Site = b.Site
		d, err := tx.Latest(box)
		if err != nil {
			return err
		}
		if d != nil {
			for _, o := range d.Open {
				if o.ID == inc {
					o := o
					v.Incident = &o
				}
			}
		}
		for i := len(b.Commands) - 1; i >= 0; i-- {
			c := b.Commands[i]
			if c.Kind != wire.KindAck || c.TokenHash != hash {
				continue
			}
			v.By, v.Detail = c.By, c.Detail
			switch {
			case c.Pending():
				v.State = hqui.AckPending
			case c.Result == wire.CommandDone:
				v.State = hqui.AckDone
			default:
				v.State = hqui.AckRefused
			}
			break
		}
		return nil
	})
	if err != nil {
		return v, http.StatusInternalServerError, err
	}
	if !found {
		v.Title, v.State, v.Error = "Link not valid", hqui.AckInvalid, "this acknowledge link names no box this receiver knows"
		return v, http.StatusNotFound, nil
	}
	if v.State == "" {
		v.State = hqui.AckForm
		if s.clock.Now().After(exp) {
			v.Error = "this link says it expired on " + exp.UTC().Format("2006-01-02 15:04 UTC") + " (by this receiver's clock); the box decides"
		}
	}
	return v, http.StatusOK, nil
}

func (s *Server) ackGet(w http.ResponseWriter, r *http.Request) {
	ackHeaders(w)
	v, code, err := s.ackView(r.PathValue("box"), r.PathValue("token"))
	if err != nil {
		s.log.Error("hq: acknowledge page", "box", plain(r.PathValue("box")), "err", err)
		code, v.State, v.Error = http.StatusInternalServerError, hqui.AckInvalid, "internal error; see the receiver's log"
	}
	w.WriteHeader(code)
	hqui.AckPage(v).Render(r.Context(), w)
}

// ackPost queues the acknowledgement and sends the browser back to the
// link's page, which shows it pending, then what the box said. No login
// and no form token: the link's token is the credential, and a page
// elsewhere that knew it could use it directly; a POST from another
// site's page is refused all the same (Origin, Sec-Fetch-Site).
func (s *Server) ackPost(w http.ResponseWriter, r *http.Request) {
	ackHeaders(w)
	box, token := r.PathValue("box"), r.PathValue("token")
	fail := func(code int, msg string) {
		v, _, _ := s.ackView(box, token)
		v.Error = msg
		if code != http.StatusTooManyRequests {
			v.State = hqui.AckInvalid
		}
		w.WriteHeader(code)
		hqui.AckPage(v).Render(r.Context(), w)
	}
	if !sameOrigin(r) {
		fail(http.StatusForbidden, "this acknowledgement was sent from another site's page; open the link itself")
		return
	}
	if ok, err := s.db.AllowAck(clientAddr(r)); err != nil || !ok {
		w.Header().Set("Retry-After", "60")
		fail(http.StatusTooManyRequests, "too many acknowledgements from your address; try again in a minute")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "bad form")
		return
	}
	if _, code, err := s.ackView(box, token); err != nil || code != http.StatusOK {
		fail(max(code, http.StatusBadRequest), "this acknowledge link is not valid here")
		return
	}
	if _, err := s.QueueAck(box, wire.Ack{Via: wire.AckViaLink, Token: token, By: r.PostForm.Get("by")}); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrTooManyAcks) {
			code = http.StatusTooManyRequests
			w.Header().Set("Retry-After", "60")
		}
		fail(code, err.Error())
		return
	}
	http.Redirect(w, r, wire.AckPath(box, token), http.StatusSeeOther)
}

// sameOrigin: a browser's POST carries Origin (and Sec-Fetch-Site);
// either naming another site refuses it. Tools send neither.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// ackLimiter counts acknowledgements posted per client address in a
// sliding window on the monotonic clock.
type ackLimiter struct {
	mu    sync.Mutex
	clock clock.Clock
	seen  map[string][]time.Duration
}

func newAckLimiter(c clock.Clock) *ackLimiter {
	if c == nil {
		c = clock.Real{}
	}
	return &ackLimiter{clock: c, seen: map[string][]time.Duration{}}
}

func (l *ackLimiter) allow(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Mono()
	if len(l.seen) > 10_000 {
		for k, ts := range l.seen {
			if len(ts) == 0 || now-ts[len(ts)-1] > ackWindow {
				delete(l.seen, k)
			}
		}
	}
	ts := l.seen[addr]
	for len(ts) > 0 && now-ts[0] > ackWindow {
		ts = ts[1:]
	}
	if len(ts) >= ackPerAddr {
		l.seen[addr] = ts
		return false
	}
	l.seen[addr] = append(ts, now)
	return true
}
