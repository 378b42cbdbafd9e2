package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"outpost/checks/clock"
)

// Ack links carry a token: incident id and expiry, signed with the box's
// secret (HMAC-SHA256). It cannot be forged, cannot be moved to another
// incident, and expires; AckHandler also refuses a token used before.

// ErrBadToken is returned for a forged, damaged or expired token.
var ErrBadToken = errors.New("this acknowledge link is not valid")

const tokenLen = 16 + sha256.Size

// MakeAckToken signs an acknowledge token for incident id until expires.
func MakeAckToken(secret []byte, id uint64, expires time.Time) string {
	b := make([]byte, 16, tokenLen)
	binary.BigEndian.PutUint64(b, id)
	binary.BigEndian.PutUint64(b[8:], uint64(expires.Unix()))
	mac := hmac.New(sha256.New, secret)
	mac.Write(b)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(b))
}

// CheckAckToken verifies a token at now and returns its incident id.
// Errors wrap ErrBadToken.
func CheckAckToken(secret []byte, token string, now time.Time) (uint64, error) {
	id, _, err := checkAckToken(secret, token, now)
	return id, err
}

// VerifyAckToken is CheckAckToken that also returns the token's expiry,
// which a used-token record must outlive (UsedTokens.UseToken): for a
// token relayed by phone home's receiver, checked at the box like one
// opened on its own page.
func VerifyAckToken(secret []byte, token string, now time.Time) (uint64, time.Time, error) {
	return checkAckToken(secret, token, now)
}

func checkAckToken(secret []byte, token string, now time.Time) (uint64, time.Time, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != tokenLen {
		return 0, time.Time{}, ErrBadToken
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(b[:16])
	if !hmac.Equal(mac.Sum(nil), b[16:]) {
		return 0, time.Time{}, ErrBadToken
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[8:16])), 0)
	if now.After(exp) {
		return 0, exp, fmt.Errorf("%w: it expired on %s", ErrBadToken, exp.Format("2006-01-02 15:04"))
	}
	return binary.BigEndian.Uint64(b[:8]), exp, nil
}

// UsedTokens remembers acknowledge tokens already used. UseToken marks
// token used and reports whether it was fresh, atomically; expires says
// how long the record must be kept (after that the token is refused
// anyway).
type UsedTokens interface {
	UseToken(token string, expires time.Time) (fresh bool, err error)
}

// AckHandler serves acknowledge links at .../<token> (mount it under a
// prefix such as "/ack/"). GET shows the incident and a button, so mail
// scanners that open links do not acknowledge; POST acknowledges once. No
// login: the signed token is the credential, bound to one incident,
// expiring, single use.
type AckHandler struct {
	Secret []byte
	Clock  clock.Clock
	Used   UsedTokens
	// Describe returns a title and a line about the incident, and whether
	// it can still be acknowledged; an error means no such incident.
	Describe func(id uint64) (title, text string, open bool, err error)
	// Ack acknowledges the incident on behalf of by.
	Ack func(id uint64, by string) error
}

var ackPage = template.Must(template.New("ack").Parse(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Acknowledge · Outpost</title><link rel="stylesheet" href="/static/style.css"></head>
<body><main><section class="card narrow"><h1>{{.Title}}</h1>{{if .Error}}<p class="error" role="alert" data-testid="ack-error">{{.Error}}</p>{{end}}{{if .Text}}<p>{{.Text}}</p>{{end}}
{{if .Form}}<form method="post"><label for="by">Your name</label> <input id="by" name="by" required autocomplete="name"> <button type="submit" data-testid="ack-button">Acknowledge</button></form>{{end}}</section></main></body></html>`))

type ackView struct {
	Title, Text, Error string
	Form               bool
}

func (h *AckHandler) page(w http.ResponseWriter, code int, v ackView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	ackPage.Execute(w, v)
}

// ServeHTTP shows (GET) or uses (POST) an acknowledge link.
func (h *AckHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The web UI's security headers: no framing (a framed Acknowledge
	// button could be clicked for someone), no sniffing, nothing loaded
	// from elsewhere, no caching; and no Referer, which would carry the
	// token to another site.
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	c := h.Clock
	if c == nil {
		c = clock.Real{}
	}
	token := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	id, exp, err := checkAckToken(h.Secret, token, c.Now())
	if err != nil {
		h.page(w, http.StatusForbidden, ackView{Title: "Link not valid", Error: err.Error() + "; open the box's web UI to acknowledge"})
		return
	}
	title, text, open, err := h.Describe(id)
	if err != nil {
		h.page(w, http.StatusNotFound, ackView{Title: "Unknown incident", Error: err.Error()})
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if !open {
			text += " It needs no acknowledgement any more."
		}
		h.page(w, http.StatusOK, ackView{Title: title, Text: text, Form: open})
	case http.MethodPost:
		fresh, err := h.Used.UseToken(token, exp)
		if err != nil {
			h.page(w, http.StatusInternalServerError, ackView{Title: "Not acknowledged", Error: "recording the link failed: " + err.Error()})
			return
		}
		if !fresh {
			h.page(w, http.StatusForbidden, ackView{Title: "Link already used", Error: "this acknowledge link was used already; open the box's web UI"})
			return
		}
		by := strings.TrimSpace(r.FormValue("by"))
		if by == "" {
			by = "someone"
		}
		by = truncate(by, 80)
		if err := h.Ack(id, by+" (via link)"); err != nil {
			h.page(w, http.StatusConflict, ackView{Title: "Not acknowledged", Error: err.Error()})
			return
		}
		h.page(w, http.StatusOK, ackView{Title: "Acknowledged", Text: fmt.Sprintf("%s: it is yours, %s. Reminders stop.", title, by)})
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
	}
}
