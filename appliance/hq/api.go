package hq

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"outpost/appliance/phonehome/wire"
	hqui "outpost/ui/hq"
)

// The HTTP API for PSA and ticketing tools (docs/hq-api.yaml): JSON,
// authenticated by a bearer token made with `outpost hq token add NAME`
// (shown once; the store keeps only its SHA-256). It lists sites and
// their open incidents and hq's alerts, acknowledges either, and queues
// a signed bundle for a box. It is served on the fleet pages' listener
// under /api/v1/.

const docToken = "api-token"

// APIToken is a token as stored: its name and the SHA-256 of its value.
type APIToken struct {
	ID      uint64    `json:"id"`
	Name    string    `json:"name"`
	Hash    string    `json:"hash"`
	Created time.Time `json:"created"`
}

// maxAPIBundle bounds a bundle posted through the API.
const maxAPIBundle = 2 << 20

func tokenDigest(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// AddToken makes a token named name and returns its value, which is not
// kept: only its hash is.
func (s *Server) AddToken(name string) (string, error) {
	if err := hqui.ValidUserName(name); err != nil {
		return "", fmt.Errorf("token name: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token := "ohq_" + base64.RawURLEncoding.EncodeToString(raw)
	err := s.db.Update(func(tx Tx) error {
		exists := false
		if err := tx.Docs(docToken, func(_ uint64, doc []byte) error {
			var t APIToken
			if json.Unmarshal(doc, &t) == nil && t.Name == name {
				exists = true
			}
			return nil
		}); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("a token named %s exists (outpost hq token delete %s first)", name, name)
		}
		id, err := tx.NextDoc(docToken)
		if err != nil {
			return err
		}
		v, _ := json.Marshal(APIToken{ID: id, Name: name, Hash: tokenDigest(token), Created: s.clock.Now().UTC()})
		return tx.PutDoc(docToken, id, v)
	})
	return token, err
}

// Tokens lists the tokens (names and creation times; hashes blanked).
func (s *Server) Tokens() ([]APIToken, error) {
	var out []APIToken
	err := s.db.View(func(tx Tx) error {
		out = out[:0]
		return tx.Docs(docToken, func(_ uint64, doc []byte) error {
			var t APIToken
			if json.Unmarshal(doc, &t) == nil {
				t.Hash = ""
				out = append(out, t)
			}
			return nil
		})
	})
	return out, err
}

// DeleteToken removes a token by name.
func (s *Server) DeleteToken(name string) error {
	return s.db.Update(func(tx Tx) error {
		found := false
		if err := tx.Docs(docToken, func(id uint64, doc []byte) error {
			var t APIToken
			if json.Unmarshal(doc, &t) == nil && t.Name == name {
				found = true
				return tx.DeleteDoc(docToken, id)
			}
			return nil
		}); err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("no token named %s", name)
		}
		return nil
	})
}

// tokenName is the name of the token a request carries, "" when it
// carries none that is known.
func (s *Server) tokenName(r *http.Request) (string, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return "", nil
	}
	want := tokenDigest(strings.TrimSpace(tok))
	name := ""
	err := s.db.View(func(tx Tx) error {
		return tx.Docs(docToken, func(_ uint64, doc []byte) error {
			var t APIToken
			if json.Unmarshal(doc, &t) == nil && subtle.ConstantTimeCompare([]byte(t.Hash), []byte(want)) == 1 {
				name = t.Name
			}
			return nil
		})
	})
	return name, err
}

// APISite is a site as the API lists it.
type APISite struct {
	ID            string          `json:"id"`
	Site          string          `json:"site"`
	Version       string          `json:"version,omitempty"`
	LastSeen      *time.Time      `json:"last_seen,omitempty"`
	Silent        bool            `json:"silent"`
	Health        wire.Health     `json:"health"`
	OpenIncidents int             `json:"open_incidents"`
	Lost          uint64          `json:"lost_summaries"`
	Incidents     []wire.Incident `json:"incidents,omitempty"`
	SLA           *wire.SLA       `json:"sla,omitempty"`
}

func (s *Server) apiSite(b Box) APISite {
	out := APISite{ID: b.ID, Site: b.Site, Version: b.Version, Silent: !b.LastSeen.IsZero() && b.Silent(s.clock.Now()), Health: b.Health, OpenIncidents: b.Open, Lost: b.Lost}
	if !b.LastSeen.IsZero() {
		t := b.LastSeen
		out.LastSeen = &t
	}
	return out
}

// APIRoutes are the API's method and path patterns, as docs/hq-api.yaml
// documents them (a test holds the two together).
func APIRoutes() []string {
	var out []string
	for _, r := range (&Server{}).apiRoutes() {
		out = append(out, r.pattern)
	}
	return out
}

type apiRoute struct {
	pattern string
	h       func(w http.ResponseWriter, r *http.Request, who string) (any, error)
}

// APIHandler serves /api/v1/.
func (s *Server) APIHandler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range s.apiRoutes() {
		mux.HandleFunc(r.pattern, s.api(r.h))
	}
	return mux
}

func (s *Server) apiRoutes() []apiRoute {
	var routes []apiRoute
	handle := func(pattern string, h func(w http.ResponseWriter, r *http.Request, who string) (any, error)) {
		routes = append(routes, apiRoute{pattern, h})
	}
	handle("GET /api/v1/sites", func(w http.ResponseWriter, r *http.Request, who string) (any, error) {
		boxes, err := s.Boxes()
		out := []APISite{}
		for _, b := range boxes {
			out = append(out, s.apiSite(b))
		}
		return out, err
	})
	handle("GET /api/v1/sites/{id}", func(w http.ResponseWriter, r *http.Request, who string) (any, error) {
		var out APISite
		var found bool
		err := s.db.View(func(tx Tx) error {
			b, ok, err := tx.Box(r.PathValue("id"))
			if err != nil || !ok {
				return err
			}
			found, out = true, s.apiSite(b)
			d, err := tx.Latest(b.ID)
			if err != nil || d == nil {
				return err
			}
			out.Incidents, out.SLA = d.Open, &d.SLA
			return nil
		})
		if err == nil && !found {
			return nil, apiErr(http.StatusNotFound, "no such site")
		}
		return out, err
	})
	handle("POST /api/v1/sites/{id}/incidents/{n}/ack", func(w http.ResponseWriter, r *http.Request, who string) (any, error) {
		n, err := strconv.ParseUint(r.PathValue("n"), 10, 64)
		if err != nil || n == 0 {
			return nil, apiErr(http.StatusNotFound, "no such incident")
		}
		c, err := s.QueueAck(r.PathValue("id"), wire.Ack{Via: wire.AckViaUser, Incident: n, By: "api:" + who})
		if err != nil {
			return nil, apiErr(http.StatusConflict, err.Error())
		}
		return map[string]any{"queued": c.ID, "what": c.What}, nil
	})
	handle("POST /api/v1/sites/{id}/bundles", func(w http.ResponseWriter, r *http.Request, who string) (any, error) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBundle))
		if err != nil || len(b) == 0 {
			return nil, apiErr(http.StatusBadRequest, fmt.Sprintf("the body is the signed bundle, at most %d bytes", maxAPIBundle))
		}
		c, err := s.Queue(r.PathValue("id"), QueueRequest{Bundle: b, What: "bundle (API, token " + who + ")"})
		if err != nil {
			return nil, apiErr(http.StatusConflict, err.Error())
		}
		return map[string]any{"queued": c.ID, "what": c.What}, nil
	})
	handle("GET /api/v1/alerts", func(w http.ResponseWriter, r *http.Request, who string) (any, error) {
		a, err := s.ListAlerts()
		if a == nil {
			a = []Alert{}
		}
		return a, err
	})
	handle("POST /api/v1/alerts/{n}/ack", func(w http.ResponseWriter, r *http.Request, who string) (any, error) {
		n, err := strconv.ParseUint(r.PathValue("n"), 10, 64)
		if err != nil {
			return nil, apiErr(http.StatusNotFound, "no such alert")
		}
		if err := s.AckAlert(n, "api:"+who); err != nil {
			if errors.Is(err, ErrNoAlert) {
				return nil, apiErr(http.StatusNotFound, err.Error())
			}
			return nil, err
		}
		return map[string]any{"acknowledged": n}, nil
	})
	return routes
}

type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func apiErr(code int, msg string) error { return &apiError{code, msg} }

// api authenticates the request and writes the answer as JSON.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request, who string) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		reply := func(code int, v any) {
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(v)
		}
		who, err := s.tokenName(r)
		if err != nil {
			s.log.Error("hq: API: reading tokens", "err", err)
			reply(http.StatusInternalServerError, map[string]string{"error": "internal error; see the receiver's log"})
			return
		}
		if who == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="outpost-hq"`)
			reply(http.StatusUnauthorized, map[string]string{"error": "needs Authorization: Bearer <token> (outpost hq token add NAME)"})
			return
		}
		v, err := h(w, r, who)
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				reply(ae.code, map[string]string{"error": ae.msg})
				return
			}
			s.log.Error("hq: API", "path", r.URL.Path, "token", who, "err", err)
			reply(http.StatusInternalServerError, map[string]string{"error": "internal error; see the receiver's log"})
			return
		}
		if r.Method == http.MethodPost {
			s.log.Info("hq: API", "method", r.Method, "path", r.URL.Path, "token", who)
		}
		reply(http.StatusOK, v)
	}
}
