package incidents

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Routes adds the incident API to the daemon's control socket:
//
//	GET  /incidents[?open=1&limit=N]    list, newest first
//	GET  /incidents/{id}                one, with its timeline
//	POST /incidents/{id}/ack            {"by": "...", "note": "..."}
//	POST /incidents/{id}/note           {"by": "...", "note": "..."}
//	POST /incidents/{id}/resolve        {"by": "...", "note": "..."}
//	POST /heal/{check}                  {"by": "...", "action": N} (N from 1; 0 = all)
func (e *Engine) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /incidents", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		list, err := e.List(r.URL.Query().Get("open") == "1", limit)
		reply(w, list, err)
	})
	mux.HandleFunc("GET /incidents/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil {
			reply(w, nil, errBadID)
			return
		}
		inc, err := e.Get(id)
		reply(w, inc, err)
	})
	for _, verb := range []string{"ack", "note", "resolve"} {
		mux.HandleFunc("POST /incidents/{id}/"+verb, func(w http.ResponseWriter, r *http.Request) {
			id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
			if err != nil {
				reply(w, nil, errBadID)
				return
			}
			var body struct{ By, Note string }
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				reply(w, nil, &badRequest{"request body: " + err.Error()})
				return
			}
			if body.By == "" {
				reply(w, nil, &badRequest{"say who you are (by)"})
				return
			}
			var inc Incident
			switch verb {
			case "ack":
				inc, err = e.Acknowledge(id, body.By, body.Note)
			case "note":
				inc, err = e.AddNote(id, body.By, body.Note)
			default:
				inc, err = e.Resolve(id, body.By, body.Note)
			}
			reply(w, inc, err)
		})
	}
	mux.HandleFunc("POST /heal/{check}", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			By     string
			Action int
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.By == "" {
			reply(w, nil, &badRequest{"request body needs {\"by\": name, \"action\": N}"})
			return
		}
		if body.Action < 0 {
			reply(w, nil, badRequestf("action %d: remediations are numbered from 1 (0 runs them all)", body.Action))
			return
		}
		out, err := e.Heal(r.Context(), r.PathValue("check"), body.Action-1, body.By)
		reply(w, out, err)
	})
}

var errBadID = &badRequest{"incident id must be a number"}

// badRequest is an error in what was asked (answered 400), as opposed
// to a conflict with the incident's state (409).
type badRequest struct{ msg string }

func badRequestf(format string, args ...any) error {
	return &badRequest{fmt.Sprintf(format, args...)}
}

func (b *badRequest) Error() string { return b.msg }

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		code := http.StatusConflict
		var br *badRequest
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoCheck):
			code = http.StatusNotFound
		case errors.As(err, &br):
			code = http.StatusBadRequest
		}
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	json.NewEncoder(w).Encode(v)
}
