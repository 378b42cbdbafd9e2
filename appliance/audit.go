package appliance

import (
	"encoding/json"
	"net/http"
	"strconv"

	"outpost/healing"
	"outpost/store"
)

// auditor keeps healing's audit trail in the store.
type auditor struct{ s *store.Store }

func (a auditor) Audit(e healing.AuditEntry) error {
	doc, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return a.s.AppendAudit(doc)
}

// auditRoutes serves GET /audit[?limit=N] and GET /notify/log[?limit=N]
// on the control socket.
func (a *Appliance) auditRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /notify/log", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 {
			limit = 100
		}
		var out []json.RawMessage
		err := a.store.NotifyLogList(func(doc []byte) bool {
			out = append(out, doc)
			return len(out) < limit
		})
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /audit", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 {
			limit = 100
		}
		var out []healing.AuditEntry
		err := a.store.ListAudit(func(doc []byte) bool {
			var e healing.AuditEntry
			if json.Unmarshal(doc, &e) == nil {
				out = append(out, e)
			}
			return len(out) < limit
		})
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}
