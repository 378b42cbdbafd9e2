// Package hqui is `outpost hq`'s fleet page: every site, its health,
// open incidents and last contact (a box silent for three intervals is
// flagged), and each site's history.
package hqui

import (
	"net/http"

	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
)

// Source is what the pages read.
type Source interface {
	Fleet() ([]FleetRow, error)
	Summaries(id string, n int) ([]wire.Summary, error)
}

// Handler serves the fleet page and the per-site pages.
func Handler(src Source, clk clock.Clock) http.Handler {
	if clk == nil {
		clk = clock.Real{}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		rows, err := src.Fleet()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fleetPage(rows, clk.Now()).Render(r.Context(), w)
	})
	mux.HandleFunc("GET /boxes/{id}", func(w http.ResponseWriter, r *http.Request) {
		rows, err := src.Fleet()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var v BoxView
		found := false
		for _, row := range rows {
			if row.ID == r.PathValue("id") {
				v.Row, found = row, true
			}
		}
		if !found {
			http.Error(w, "no such box", http.StatusNotFound)
			return
		}
		if v.History, err = src.Summaries(v.Row.ID, 200); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if len(v.History) > 0 {
			v.Latest = &v.History[0]
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		boxPage(v, clk.Now()).Render(r.Context(), w)
	})
	return mux
}
