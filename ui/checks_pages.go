package ui

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"outpost/checks"
)

func init() { pages = append(pages, (*Server).checkPages) }

// ChecksBackend is what the check list and a check's page read and do.
type ChecksBackend interface {
	// CheckStates returns every check with its latest result.
	CheckStates() []CheckState
	historyReader
	// Changes returns a check's status changes in [from, to]; errors are
	// internal.
	Changes(id string, from, to time.Time) ([]Change, error)
	// RunNow runs a check at once. An unknown check is ENOTFOUND.
	RunNow(ctx context.Context, id string) (checks.Result, error)
}

// historyReader is the history a graph plots (check and device pages).
type historyReader interface {
	// History returns a check's raw results in [from, to]; errors are
	// internal.
	History(id string, from, to time.Time) ([]checks.Result, error)
	// Rollups returns aggregated points for long ranges; step is 5m or
	// 1h; errors are internal.
	Rollups(id string, step time.Duration, from, to time.Time) ([]Point, error)
}

// ChecksView is the filtered check list.
type ChecksView struct {
	Rows              []CheckRow
	Q, Status, Device string
	Statuses          []string
	Total             int
	CanEdit           bool
}

// Range is one of the history ranges a check page offers.
type Range struct {
	Name string
	Span time.Duration
	// Step is the rollup resolution used (0 = raw results).
	Step time.Duration
}

// Ranges are the check page's history ranges: raw results for a day,
// 5-minute rollups for a week and a month, hourly rollups for a year.
var Ranges = []Range{
	{"24h", 24 * time.Hour, 0},
	{"7d", 7 * 24 * time.Hour, 5 * time.Minute},
	{"30d", 30 * 24 * time.Hour, 5 * time.Minute},
	{"1y", 365 * 24 * time.Hour, time.Hour},
}

// CheckView is one check's page.
type CheckView struct {
	Row      CheckRow
	Interval time.Duration
	Range    string
	Ranges   []string
	Graph    Graph
	Changes  []Change
	Recent   []RecentResult
	CSRF     string
	CanRun   bool
	CanEdit  bool
	Ran      *RecentResult
}

// RecentResult is one raw result in the table.
type RecentResult struct {
	Time    string
	Status  string
	Latency string
	Detail  string
}

func (s *Server) checkPages() {
	b := s.o.Checks
	if b == nil {
		return
	}
	s.handle("GET", "/checks", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		q := r.URL.Query()
		v := FilterChecks(b.CheckStates(), s.o.Clock.Now(), q.Get("q"), q.Get("status"), q.Get("device"))
		v.CanEdit = sess.Role.AtLeast(RoleAdmin)
		return s.render(w, r, sess, "Checks", checksView(v))
	})
	s.handle("GET", "/checks/{id}", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		v, err := s.checkView(b, r, sess)
		if err != nil {
			return err
		}
		return s.render(w, r, sess, v.Row.ID, checkView(v))
	})
	s.handle("POST", "/checks/{id}/run", RoleTechnician, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		if _, err := b.RunNow(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		http.Redirect(w, r, "/checks/"+r.PathValue("id")+"?ran=1", http.StatusSeeOther)
		return nil
	})
}

// FilterChecks builds the check list: free-text search over id, target,
// device, group and detail; exact status and device filters; worst first.
func FilterChecks(states []CheckState, now time.Time, q, status, device string) ChecksView {
	v := ChecksView{Q: q, Status: status, Device: device, Statuses: []string{"critical", "warning", "unknown", "ok", "pending"}, Total: len(states)}
	ql := strings.ToLower(strings.TrimSpace(q))
	for _, c := range states {
		row := rowOf(c, now)
		if status != "" && row.Status != status {
			continue
		}
		if device != "" && row.Device != device {
			continue
		}
		if ql != "" && !strings.Contains(strings.ToLower(strings.Join([]string{row.ID, row.Kind, row.Target, row.Device, row.Group, row.Detail}, " ")), ql) {
			continue
		}
		v.Rows = append(v.Rows, row)
	}
	sort.SliceStable(v.Rows, func(i, j int) bool { return rankOf(v.Rows[i].Status) > rankOf(v.Rows[j].Status) })
	return v
}

func (s *Server) checkView(b ChecksBackend, r *http.Request, sess *Session) (CheckView, error) {
	id := r.PathValue("id")
	var st *CheckState
	for _, c := range b.CheckStates() {
		if c.ID == id {
			c := c
			st = &c
			break
		}
	}
	if st == nil {
		return CheckView{}, Errorf(ENOTFOUND, "no check %s", id)
	}
	now := s.o.Clock.Now()
	rng := Ranges[0]
	for _, x := range Ranges {
		if x.Name == r.URL.Query().Get("range") {
			rng = x
		}
	}
	v := CheckView{Row: rowOf(*st, now), Interval: st.Interval, Range: rng.Name, CSRF: sess.CSRF, CanRun: sess.Role.AtLeast(RoleTechnician), CanEdit: sess.Role.AtLeast(RoleAdmin)}
	for _, x := range Ranges {
		v.Ranges = append(v.Ranges, x.Name)
	}
	from := now.Add(-rng.Span)
	raw, err := b.History(id, now.Add(-24*time.Hour), now)
	if err != nil {
		return v, err
	}
	points, err := points(b, id, rng, from, now)
	if err != nil {
		return v, err
	}
	v.Graph = BuildGraph(points, from, now, 600, 160, true)
	ch, err := b.Changes(id, from, now)
	if err != nil {
		return v, err
	}
	for i := len(ch) - 1; i >= 0 && len(v.Changes) < 50; i-- {
		v.Changes = append(v.Changes, ch[i])
	}
	for i := len(raw) - 1; i >= 0 && len(v.Recent) < 20; i-- {
		res := raw[i]
		v.Recent = append(v.Recent, RecentResult{Time: res.Time.Format("Jan 2 15:04:05"), Status: res.Status.String(), Latency: fmtDur(res.Latency), Detail: res.Detail})
	}
	if r.URL.Query().Get("ran") == "1" && len(v.Recent) > 0 {
		v.Ran = &v.Recent[0]
	}
	return v, nil
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return fmtNum(float64(d)/float64(time.Millisecond)) + " ms"
	}
	return d.Round(10 * time.Millisecond).String()
}
