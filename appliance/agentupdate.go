package appliance

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"outpost/checks/agent"
	"outpost/firmware/bundle"
)

// AgentUpdateAnswer is the control socket's answer to POST
// /agents/update: the bundle's version and each agent's outcome, in the
// order they were tried.
type AgentUpdateAnswer struct {
	Version  string                `json:"version"`
	OS       string                `json:"os"`
	Arch     string                `json:"arch"`
	Outcomes []agent.UpdateOutcome `json:"outcomes"`
}

// DefaultAgentUpdateWait is how long `outpost agent update` waits for an
// updated agent to answer as the new version.
const DefaultAgentUpdateWait = 3 * time.Minute

// agentUpdateRoutes adds POST /agents/update?name=A&name=B|all=1&wait=3m,
// whose body is the firmware bundle file: kept in the data directory
// while the rollout runs (each agent is sent it in turn), then removed.
func (a *Appliance) agentUpdateRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /agents/update", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		names := q["name"]
		if q.Get("all") == "1" {
			if len(names) > 0 {
				writeError(w, http.StatusBadRequest, errors.New("give agent names or --all, not both"))
				return
			}
			var err error
			if names, err = a.agents.Paired(); err != nil {
				writeError(w, http.StatusInternalServerError, err)
				return
			}
			if len(names) == 0 {
				writeError(w, http.StatusBadRequest, errors.New("no agent is paired with this box"))
				return
			}
		}
		if len(names) == 0 {
			writeError(w, http.StatusBadRequest, errors.New("which agents? give their names or --all"))
			return
		}
		names = slices.Compact(names)
		wait := DefaultAgentUpdateWait
		if s := q.Get("wait"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 || d > time.Hour {
				writeError(w, http.StatusBadRequest, fmt.Errorf("wait %q is not a duration up to 1h", s))
				return
			}
			wait = d
		}
		if !a.fw.agentUpdating.TryLock() {
			writeError(w, http.StatusConflict, errors.New("an agent update is running on this box already: wait for it to end"))
			return
		}
		defer a.fw.agentUpdating.Unlock()
		body := http.MaxBytesReader(w, r.Body, bundle.MaxFirmwareHeader+1+bundle.MaxFirmwareBinary+1)
		spool, t, err := a.spoolAgentBundle(body)
		if spool != "" {
			defer os.Remove(spool)
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		a.log.Info("agent update: rolling out", "version", t.Version, "os", t.OS, "arch", t.Arch, "agents", names)
		open := func() (io.ReadCloser, error) { return os.Open(spool) }
		out := a.agents.UpdateAgents(r.Context(), names, t, open, wait)
		writeJSON(w, http.StatusOK, AgentUpdateAnswer{Version: t.Version, OS: t.OS, Arch: t.Arch, Outcomes: out})
	})
}

// spoolAgentBundle keeps the bundle read from body in the data directory
// and reads its envelope (the signature against the key it names, and
// what it is for); whether the agents trust that key is theirs to say.
func (a *Appliance) spoolAgentBundle(body io.Reader) (string, agent.UpdateTarget, error) {
	var t agent.UpdateTarget
	dir := filepath.Join(a.o.DataDir, "firmware")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", t, err
	}
	f, err := os.CreateTemp(dir, ".agent-update-*.bundle")
	if err != nil {
		return "", t, err
	}
	defer f.Close()
	if _, err := io.Copy(f, body); err != nil {
		return f.Name(), t, fmt.Errorf("reading the bundle: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return f.Name(), t, err
	}
	m, _, err := bundle.ReadFirmware(f)
	if err != nil {
		return f.Name(), t, err
	}
	return f.Name(), agent.UpdateTarget{Version: m.Version, OS: m.OS, Arch: m.Arch}, nil
}
