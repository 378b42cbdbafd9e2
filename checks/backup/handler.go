package backup

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"outpost/checks"
	"outpost/checks/clock"
)

// MaxBody bounds what is read of one ping's body. borgmatic sends at most
// 100,000 bytes of log by default; a longer body is read up to MaxBody,
// its last checks.BackupOutputMax bytes are kept, and the rest is not
// read.
const MaxBody = 1 << 20

// Store keeps the pings (store.Store).
type Store interface {
	// AddBackupPing keeps a ping of job and returns it as kept (bounded,
	// with its run's duration). Errors are the disk's.
	AddBackupPing(job string, p checks.BackupPing) (checks.BackupPing, error)
}

// HandlerOptions are what the ping endpoint works with.
type HandlerOptions struct {
	Store Store
	// Jobs finds the job a UUID belongs to in the config in force; only
	// configured jobs' pings are kept.
	Jobs func(uuid string) (Job, bool)
	// Pinged is told of every ping kept, so that the job's check is
	// judged at once rather than at its next run. It must not block.
	Pinged func(Job, checks.BackupPing)
	Clock  clock.Clock
	Log    *slog.Logger
}

// Handler serves the healthchecks.io-compatible ping API under
// PathPrefix. It needs no login: the job's UUID is the credential. Every
// request is counted against its source's rate and the box's before
// anything else; only a configured job's ping is read further, its body
// bounded by MaxBody, its output by checks.BackupOutputMax.
type Handler struct {
	o   HandlerOptions
	lim limiter

	logMu  sync.Mutex
	logBkt checks.TokenBucket
	logOn  bool
}

// NewHandler returns the ping endpoint.
func NewHandler(o HandlerOptions) *Handler {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Pinged == nil {
		o.Pinged = func(Job, checks.BackupPing) {}
	}
	return &Handler{o: o}
}

// ServeHTTP answers a ping: 200 "OK" when kept; 400 for a URL that is
// not a ping, 404 for a UUID no job has, 405 for a method other than
// GET, POST, PUT or HEAD, 429 over the rate, 503 when the store cannot
// keep it. Refusals say why in a plain-text body.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	src := sourceOf(r.RemoteAddr)
	if which := h.lim.allow(src, h.o.Clock.Mono()); which != "" {
		w.Header().Set("Retry-After", strconv.Itoa(int(1/PerSourceRate)))
		msg := fmt.Sprintf("too many pings from %s: at most %d in a burst, then one every %ds", src, PerSourceBurst, int(1/PerSourceRate))
		if which == "total" {
			msg = fmt.Sprintf("too many pings to this box: at most %d a second in all", TotalRate)
		}
		h.refuse(w, r, http.StatusTooManyRequests, msg)
		return
	}
	p, err := ParsePing(r.Method, r.URL.Path, r.URL.RawQuery)
	if err != nil {
		var pe *PingError
		code := http.StatusBadRequest
		if errors.As(err, &pe) {
			code = pe.Code
		}
		if code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, HEAD, POST, PUT")
		}
		h.refuse(w, r, code, err.Error())
		return
	}
	job, ok := h.o.Jobs(p.UUID)
	if !ok {
		h.refuse(w, r, http.StatusNotFound, "not found: no backup job on this box has this UUID (the check's options.uuid)")
		return
	}
	tb := tailBuffer{max: 4 * checks.BackupOutputMax}
	n, err := io.Copy(&tb, io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, "reading the ping's body: "+err.Error())
		return
	}
	out := CleanOutput(tb.bytes())
	if tb.cut && !strings.HasPrefix(out, "…") {
		out = tail("…"+out, checks.BackupOutputMax)
	}
	if n > MaxBody {
		out = tail(out, checks.BackupOutputMax-100) + fmt.Sprintf("\n[the body was over %d bytes: the rest was not read]", MaxBody)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	kept, err := h.o.Store.AddBackupPing(p.UUID, checks.BackupPing{
		Time: h.o.Clock.Now(), Signal: p.Signal, Exit: p.Exit, RunID: p.RunID,
		Source: host, Method: r.Method, UserAgent: cutText(r.UserAgent(), 128),
		Output: out, BodyBytes: n,
	})
	if err != nil {
		h.o.Log.Error("backup ping not kept", "check", job.Check, "err", err)
		h.refuse(w, r, http.StatusServiceUnavailable, "the box could not keep the ping (its store is failing): try again later")
		return
	}
	h.o.Log.Info("backup ping", "check", job.Check, "signal", kept.Signal, "source", host, "bytes", n)
	h.o.Pinged(job, kept)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.WriteString(w, "OK")
	}
}

// refuse answers an error, logging at most one refusal a second (bursts
// of ten) so that a flood cannot fill the journal.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	h.logMu.Lock()
	now := h.o.Clock.Mono()
	if !h.logOn {
		h.logBkt, h.logOn = checks.NewTokenBucket(10, now), true
	}
	logIt := h.logBkt.Take(now, 1, 10)
	h.logMu.Unlock()
	if logIt {
		h.o.Log.Warn("backup ping refused", "source", r.RemoteAddr, "status", code, "why", msg)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		io.WriteString(w, msg+"\n")
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.cut = t.cut || len(t.buf) > 0 || len(p) > t.max
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.cut = true
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// bytes is what was kept, from the first whole UTF-8 sequence on when
// the start was cut.
func (t *tailBuffer) bytes() []byte {
	b := t.buf
	for i := 0; t.cut && i < 3 && len(b) > 0 && b[0]&0xC0 == 0x80; i++ {
		b = b[1:]
	}
	return b
}
