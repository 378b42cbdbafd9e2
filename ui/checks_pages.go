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

// Ranges are the history ranges the check and device pages offer: raw
// results up to a day (from an hour, so the first hours after install
// read as a line, not a dot at the right edge), 5-minute rollups for a
// week and a month, hourly rollups for a year.
var Ranges = []Range{
	{"1h", time.Hour, 0},
	{"6h", 6 * time.Hour, 0},
	{"24h", 24 * time.Hour, 0},
	{"7d", 7 * 24 * time.Hour, 5 * time.Minute},
	{"30d", 30 * 24 * time.Hour, 5 * time.Minute},
	{"1y", 365 * 24 * time.Hour, time.Hour},
}

// rangeNamed returns the range a page asked for (ok false for none or an
// unknown name).
func rangeNamed(name string) (Range, bool) {
	for _, r := range Ranges {
		if r.Name == name {
			return r, true
		}
	}
	return Range{}, false
}

// autoRange is the shortest of the raw ranges up to longest that holds
// everything since oldest (the zero time: nothing yet, the shortest): a
// box installed this morning shows its hours, one running for weeks its
// last day.
func autoRange(oldest, now time.Time, longest time.Duration) Range {
	var pick Range
	for _, r := range Ranges {
		if r.Step != 0 || r.Span > longest {
			break
		}
		pick = r
		if oldest.IsZero() || !oldest.Before(now.Add(-r.Span)) {
			return r
		}
	}
	return pick
}

// CheckView is one check's page.
type CheckView struct {
	Row      CheckRow
	Interval time.Duration
	Range    string
	Ranges   []string
	// Graph is drawn for a desk; Narrow, with fewer pixels to share, for
	// a phone (the page shows one or the other).
	Graph, Narrow Graph
	// Unit is what the check's Value measures (the Value column);
	// ShowLatency is false when the Value is the response time itself.
	Unit        Unit
	ShowLatency bool
	Changes     []Change
	Recent      []RecentResult
	CSRF        string
	CanRun      bool
	CanEdit     bool
	Ran         *RecentResult
	// Forecast is the check's capacity forecast (nil: none), drawn on
	// the graphs when it has a trend.
	Forecast *ForecastView
}

// RecentResult is one raw result in the table.
type RecentResult struct {
	Time    string
	Status  string
	Value   string
	Latency string
	Detail  string
	// Same: the store kept no text of this run's own (an ok result's
	// text is stored only when it changes in more than its numbers), so
	// Detail is the text of the run before and the table says so; this
	// run's own numbers are Value and Latency.
	Same bool
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
	raw, err := b.History(id, now.Add(-24*time.Hour), now)
	if err != nil {
		return CheckView{}, err
	}
	fs, _ := forecastsOf(b)
	fc := forecastOf(fs, id)
	rng, ok := rangeNamed(r.URL.Query().Get("range"))
	if !ok && fc != nil && fc.Trend != nil {
		rng, ok = rangeNamed("7d") // a trend is read over days, not hours
	}
	if !ok {
		var oldest time.Time
		if len(raw) > 0 {
			oldest = raw[0].Time
		}
		rng = autoRange(oldest, now, 24*time.Hour)
	}
	v := CheckView{Row: rowOf(*st, now), Interval: st.Interval, Range: rng.Name, Unit: UnitOf(st.Kind), ShowLatency: UnitOf(st.Kind).Symbol != "ms", CSRF: sess.CSRF, CanRun: sess.Role.AtLeast(RoleTechnician), CanEdit: sess.Role.AtLeast(RoleAdmin)}
	for _, x := range Ranges {
		v.Ranges = append(v.Ranges, x.Name)
	}
	from := now.Add(-rng.Span)
	var pts []Point
	if rng.Step == 0 {
		pts = rawPoints(raw, from)
	} else if pts, err = points(b, id, rng, from, now); err != nil {
		return v, err
	}
	v.Forecast = fc
	if fc != nil && fc.Trend != nil {
		v.Graph = BuildTrendGraph(pts, from, now, 960, 260, v.Unit, *fc.Trend)
		v.Narrow = BuildTrendGraph(pts, from, now, 420, 220, v.Unit, *fc.Trend)
	} else {
		v.Graph = BuildGraph(pts, from, now, 960, 260, true, v.Unit)
		v.Narrow = BuildGraph(pts, from, now, 420, 220, true, v.Unit)
	}
	ch, err := b.Changes(id, from, now)
	if err != nil {
		return v, err
	}
	for i := len(ch) - 1; i >= 0 && len(v.Changes) < 50; i-- {
		v.Changes = append(v.Changes, ch[i])
	}
	v.Recent = recentResults(raw, st.Latest, v.Unit, 20)
	if r.URL.Query().Get("ran") == "1" && len(v.Recent) > 0 {
		v.Ran = &v.Recent[0]
	}
	return v, nil
}

// recentResults is the latest-results table, newest first: each run with
// its own status, value and response time. Its detail is its own where
// the store kept one, and the newest run's is the exact latest result;
// a run whose text the store did not keep (ok, same text but for its
// numbers) is marked Same rather than shown with another run's numbers.
func recentResults(raw []checks.Result, latest *checks.Result, u Unit, n int) []RecentResult {
	var out []RecentResult
	for i := len(raw) - 1; i >= 0 && len(out) < n; i-- {
		res := raw[i]
		if i == len(raw)-1 && latest != nil && latest.Time.Truncate(time.Millisecond).Equal(res.Time.Truncate(time.Millisecond)) {
			res = *latest
		}
		rr := RecentResult{Time: res.Time.Format("Jan 2 15:04:05"), Status: res.Status.String(), Value: "-", Latency: fmtDur(res.Latency), Detail: res.Detail}
		if res.HasValue {
			rr.Value = withUnit(res.Value, u)
		}
		if i > 0 && res.Status == checks.OK && raw[i-1].Status == checks.OK && raw[i-1].Detail == res.Detail && res.Detail != "" &&
			(raw[i-1].Value != res.Value || raw[i-1].Latency != res.Latency) {
			rr.Same = true
		}
		out = append(out, rr)
	}
	return out
}

func anySame(rs []RecentResult) bool {
	for _, r := range rs {
		if r.Same {
			return true
		}
	}
	return false
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
