package agent

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"outpost/checks"
	"outpost/checks/agent/wire"
)

// PairCodeAnswer is what `outpost agent pair-code` prints.
type PairCodeAnswer struct {
	Agent   string    `json:"agent"`
	Code    string    `json:"code"`
	Expires time.Time `json:"expires"`
	// BoxFingerprint is the pairing endpoint's certificate, for the
	// agent's --box-fingerprint.
	BoxFingerprint string `json:"box_fingerprint"`
	// PairAddr is the address the pairing endpoint listens on (the
	// web UI's), "" when the box has none.
	PairAddr string `json:"pair_addr,omitempty"`
	// Services and Scripts are what the box's config asks of this agent,
	// for the --allow-* flags of `agent install` on the server.
	Services []string      `json:"services,omitempty"`
	Scripts  []wire.Script `json:"scripts,omitempty"`
}

// AgentStatus is one line of `outpost agent list`.
type AgentStatus struct {
	Name       string              `json:"name"`
	Configured bool                `json:"configured"`
	Paired     bool                `json:"paired"`
	Record     checks.AgentPairing `json:"record"`
	// RevocationPending is a revoked agent not told yet: the box
	// delivers its signed revocation when the agent answers again.
	RevocationPending bool `json:"revocation_pending,omitempty"`
	// Version and Arch (os/arch) are what the agent answered just now
	// ("" when it did not).
	Version string `json:"version,omitempty"`
	Arch    string `json:"arch,omitempty"`
}

// RevokeAnswer says whether the agent itself heard of its revocation
// (when not, the box delivers it later).
type RevokeAnswer struct {
	Agent string `json:"agent"`
	Told  bool   `json:"told"`
}

// Routes adds the control-socket API used by `outpost agent pair-code`,
// `list`, `revoke` and `inventory`.
func (c *Client) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /agents/pair-code", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Name string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		if c.PairAddr() == "" {
			writeJSON(w, 400, map[string]string{"error": "this box cannot pair agents: pairing is served on the web UI over HTTPS, which its config turns off (ui: disabled or plain_http)"})
			return
		}
		code, exp, err := c.NewPairCode(req.Name)
		if err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		p, _ := c.Peer(req.Name)
		writeJSON(w, 200, PairCodeAnswer{Agent: req.Name, Code: code, Expires: exp, BoxFingerprint: c.o.PairTLSFingerprint, PairAddr: c.PairAddr(), Services: p.Services, Scripts: p.Scripts})
	})
	mux.HandleFunc("GET /agents", func(w http.ResponseWriter, r *http.Request) {
		list, err := c.Status()
		if err != nil {
			writeJSON(w, 500, map[string]string{"error": err.Error()})
			return
		}
		c.fillVersions(r.Context(), list)
		writeJSON(w, 200, list)
	})
	mux.HandleFunc("POST /agents/revoke", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Name string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		told, err := c.Revoke(r.Context(), req.Name)
		if err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, 200, RevokeAnswer{Agent: req.Name, Told: told})
	})
	mux.HandleFunc("POST /agents/inventory", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Name string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		inv, err := c.CollectInventory(r.Context(), req.Name)
		if err != nil {
			writeJSON(w, 502, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, 200, inv)
	})
}

// Status lists configured and paired agents.
func (c *Client) Status() ([]AgentStatus, error) {
	recs, err := c.o.Store.ListAgents()
	if err != nil {
		return nil, err
	}
	byName := map[string]*AgentStatus{}
	for _, r := range recs {
		s := &AgentStatus{Name: r.Name, Paired: !r.Revoked(), Record: r}
		if r.Revoked() {
			pending, err := c.o.Store.GetBlob(revocationBlob(r.Name))
			s.RevocationPending = err == nil && len(pending) > 0
		}
		byName[r.Name] = s
	}
	c.mu.Lock()
	for n := range c.peers {
		if s, ok := byName[n]; ok {
			s.Configured = true
		} else {
			byName[n] = &AgentStatus{Name: n, Configured: true}
		}
	}
	c.mu.Unlock()
	out := make([]AgentStatus, 0, len(byName))
	for _, s := range byName {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b AgentStatus) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out, nil
}
