package appliance

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"outpost/appliance/config"
	phwire "outpost/appliance/phonehome/wire"
	"outpost/checks"
	"outpost/checks/discovery"
	"outpost/store"
)

// discoveryWiring is the state the discovery service shares with the
// UI and the control API: the "scan now" queue and the sweep in
// progress.
type discoveryWiring struct {
	now chan netip.Prefix
	mu  sync.Mutex
	// queued are the subnets asked for and not yet swept; running the
	// one being swept (invalid when none) and since when.
	queued  map[netip.Prefix]bool
	running netip.Prefix
	since   time.Time
}

// wireInventory makes the scan-now queue and adds the inventory API to
// the control socket. New calls it.
func (a *Appliance) wireInventory() {
	a.disc.now = make(chan netip.Prefix, 16)
	a.disc.queued = map[netip.Prefix]bool{}
	a.deps.Inventory = inventoryReader{a.store}
	a.routes = append(a.routes, a.inventoryRoutes)
}

// ScanPlan is what "scan now" promises: the subnet, its addresses, the
// rate ceiling and how long the sweep will take at it.
type ScanPlan struct {
	Subnet    string        `json:"subnet"`
	Addresses int           `json:"addresses"`
	Rate      int           `json:"rate"`
	Estimate  time.Duration `json:"estimate_ns"`
	// PerHost is what each live host adds (its probes at the rate).
	PerHost time.Duration `json:"per_host_ns"`
	// Already says the subnet was already queued or being swept.
	Already bool `json:"already,omitempty"`
}

// Text says the plan in words.
func (p ScanPlan) Text() string {
	s := fmt.Sprintf("%s: %d addresses at %d probes/s, about %s plus %s per live host", p.Subnet, p.Addresses, p.Rate,
		p.Estimate.Round(100*time.Millisecond), p.PerHost.Round(10*time.Millisecond))
	if p.Already {
		s += " (already queued)"
	}
	return s
}

func planOf(o discovery.Options) ScanPlan {
	return ScanPlan{Subnet: o.Subnet.String(), Addresses: discovery.Addresses(o.Subnet), Rate: o.Rate, Estimate: o.Estimate(0),
		PerHost: time.Duration(o.ProbesPerHost()) * time.Second / time.Duration(max(o.Rate, 1))}
}

// errNotEnabled refuses to sweep a subnet a technician did not enable.
var errNotEnabled = errors.New("is not an enabled discovery subnet: enable it first (discovery.subnets)")

// ScanNow queues a sweep of cidr, which must be enabled in the config in
// force, and says how long it will take at the rate ceiling.
func (a *Appliance) ScanNow(cidr string) (ScanPlan, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	if err != nil {
		return ScanPlan{}, fmt.Errorf("%q is not a CIDR subnet (e.g. 192.0.2.0/24)", cidr)
	}
	p = p.Masked()
	cfg := discovery.ConfigOf(a.Config())
	if !slices.Contains(cfg.Enabled(), p) {
		return ScanPlan{}, fmt.Errorf("%s %w", p, errNotEnabled)
	}
	o, err := cfg.Options(p).WithDefaults()
	if err != nil {
		return ScanPlan{}, err
	}
	plan := planOf(o)
	a.disc.mu.Lock()
	defer a.disc.mu.Unlock()
	if a.disc.queued[p] || a.disc.running == p {
		plan.Already = true
		return plan, nil
	}
	select {
	case a.disc.now <- p:
		a.disc.queued[p] = true
	default:
		return plan, errors.New("too many scans are queued; try again when one is done")
	}
	return plan, nil
}

// SubnetState is one discovery subnet as the UI and the CLI show it.
type SubnetState struct {
	CIDR string `json:"cidr"`
	// Configured: listed in discovery.subnets; Suggested: the box has
	// an address on it.
	Configured bool      `json:"configured"`
	Enabled    bool      `json:"enabled"`
	Suggested  bool      `json:"suggested"`
	LastSweep  time.Time `json:"last_sweep"`
	Plan       ScanPlan  `json:"plan"`
	Queued     bool      `json:"queued,omitempty"`
	// Running is when its sweep began (zero when not being swept).
	Running time.Time `json:"running"`
}

// DiscoverySubnets lists the configured subnets and, after them, the
// box's connected subnets that are not configured (suggestions: nothing
// is sent to them until enabled).
func (a *Appliance) DiscoverySubnets() []SubnetState {
	cfg := discovery.ConfigOf(a.Config())
	connected := discovery.ConnectedSubnets()
	var out []SubnetState
	add := func(p netip.Prefix, configured, enabled bool) {
		st := SubnetState{CIDR: p.String(), Configured: configured, Enabled: enabled, Suggested: slices.Contains(connected, p)}
		st.LastSweep, _ = a.store.LastSweep(p.String())
		if o, err := cfg.Options(p).WithDefaults(); err == nil {
			st.Plan = planOf(o)
		}
		a.disc.mu.Lock()
		st.Queued = a.disc.queued[p]
		if a.disc.running == p {
			st.Running = a.disc.since
		}
		a.disc.mu.Unlock()
		out = append(out, st)
	}
	seen := map[netip.Prefix]bool{}
	for _, s := range cfg.Subnets {
		if s.Prefix.IsValid() && !seen[s.Prefix] {
			seen[s.Prefix] = true
			add(s.Prefix, true, s.Enabled)
		}
	}
	for _, p := range connected {
		if !seen[p] {
			add(p, false, false)
		}
	}
	return out
}

// SetDiscoverySubnet enables (or disables) cidr in the config's
// discovery section and applies it as a new config version.
func (a *Appliance) SetDiscoverySubnet(cidr string, enabled bool, who string) error {
	return a.editConfig(who, func(raw []byte) ([]byte, error) { return config.SetDiscoverySubnet(raw, cidr, enabled) })
}

// InventoryDevice is the device ref names (key, MAC, address, name).
func (a *Appliance) InventoryDevice(ref string) (store.InventoryDevice, error) {
	return a.store.InventoryDeviceOf(ref)
}

// InventoryChanges are the newest n inventory changes, oldest first.
func (a *Appliance) InventoryChanges(n int) ([]store.InventoryChange, error) {
	all, err := a.store.InventoryChangesSince(time.Time{}, store.InventoryChanges)
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return all, err
}

// DecideRequest is a technician's decision about a device; nil fields
// are kept, a label with an empty value is removed.
type DecideRequest struct {
	Ref     string            `json:"ref"`
	Class   *string           `json:"class,omitempty"`
	Name    *string           `json:"name,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Ignored *bool             `json:"ignored,omitempty"`
	By      string            `json:"by"`
}

// Decide records a decision; a class must be one a sweep names (or ""
// to go back to the sweep's).
func (a *Appliance) Decide(r DecideRequest) (store.InventoryDevice, error) {
	if r.Class != nil && *r.Class != "" && !slices.Contains(discovery.Classes, *r.Class) {
		return store.InventoryDevice{}, fmt.Errorf("%w: class %q is not one of %s", store.ErrBadDecision, *r.Class, strings.Join(discovery.Classes, ", "))
	}
	d, err := a.store.Decide(r.Ref, store.DecisionEdit{Class: r.Class, Name: r.Name, Labels: r.Labels, Ignored: r.Ignored, By: r.By}, a.o.Clock.Now())
	if err == nil {
		a.log.Info("inventory decision", "device", d.Key, "by", r.By, "class", d.EffectiveClass(), "name", d.Label(), "ignored", d.Decision.Ignored)
	}
	return d, err
}

// MergeRequest merges the record Drop names into the one Keep names.
type MergeRequest struct {
	Keep string `json:"keep"`
	Drop string `json:"drop"`
	By   string `json:"by"`
}

// Merge merges two inventory records (store.MergeInventory).
func (a *Appliance) Merge(r MergeRequest) (store.InventoryDevice, error) {
	d, err := a.store.MergeInventory(r.Keep, r.Drop, r.By, a.o.Clock.Now())
	if err == nil {
		a.log.Info("inventory merge", "kept", d.Key, "merged", r.Drop, "by", r.By)
	}
	return d, err
}

// SubnetRequest enables or disables a discovery subnet.
type SubnetRequest struct {
	CIDR    string `json:"cidr"`
	Enabled bool   `json:"enabled"`
	By      string `json:"by"`
}

// inventoryError maps an inventory error to its HTTP status.
func inventoryError(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	switch {
	case errors.Is(err, store.ErrNoInventoryDevice):
		code = http.StatusNotFound
	case errors.Is(err, config.ErrEditInvalid):
		code = http.StatusUnprocessableEntity
	case errors.Is(err, store.ErrBadDecision):
	default:
		code = http.StatusInternalServerError
	}
	writeError(w, code, err)
}

// maxInventoryBody bounds a control request's body.
const maxInventoryBody = 64 << 10

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxInventoryBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("reading the request: %v", err))
		return false
	}
	return true
}

func (a *Appliance) inventoryRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /inventory", func(w http.ResponseWriter, r *http.Request) {
		rows, err := a.InventoryRows()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, rows)
	})
	mux.HandleFunc("GET /inventory/device", func(w http.ResponseWriter, r *http.Request) {
		d, err := a.InventoryDevice(r.URL.Query().Get("ref"))
		if err != nil {
			inventoryError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("GET /inventory/changes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil || n < 1 || n > store.InventoryChanges {
			n = 100
		}
		cs, err := a.InventoryChanges(n)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		if cs == nil {
			cs = []store.InventoryChange{}
		}
		writeJSON(w, http.StatusOK, cs)
	})
	mux.HandleFunc("POST /inventory/decide", func(w http.ResponseWriter, r *http.Request) {
		var req DecideRequest
		if !decodeBody(w, r, &req) {
			return
		}
		d, err := a.Decide(req)
		if err != nil {
			inventoryError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("POST /inventory/merge", func(w http.ResponseWriter, r *http.Request) {
		var req MergeRequest
		if !decodeBody(w, r, &req) {
			return
		}
		d, err := a.Merge(req)
		if err != nil {
			inventoryError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("GET /inventory/template", func(w http.ResponseWriter, r *http.Request) {
		res, err := a.PlanTemplate(r.URL.Query().Get("ref"))
		if err != nil {
			inventoryError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST /inventory/template", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Ref, By string }
		if !decodeBody(w, r, &req) {
			return
		}
		res, err := a.ApplyTemplate(r.Context(), req.Ref, req.By)
		if err != nil {
			inventoryError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST /discovery/apply", func(w http.ResponseWriter, r *http.Request) {
		var req SweepApplyRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20))
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("reading the request: %v", err))
			return
		}
		res, err := a.ApplySweep(r.Context(), req)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /discovery/subnets", func(w http.ResponseWriter, r *http.Request) {
		s := a.DiscoverySubnets()
		if s == nil {
			s = []SubnetState{}
		}
		writeJSON(w, http.StatusOK, s)
	})
	mux.HandleFunc("POST /discovery/subnets", func(w http.ResponseWriter, r *http.Request) {
		var req SubnetRequest
		if !decodeBody(w, r, &req) {
			return
		}
		if err := a.SetDiscoverySubnet(req.CIDR, req.Enabled, req.By); err != nil {
			inventoryError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, a.DiscoverySubnets())
	})
	mux.HandleFunc("POST /discovery/scan", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Subnet string `json:"subnet"`
		}
		if !decodeBody(w, r, &req) {
			return
		}
		plan, err := a.ScanNow(req.Subnet)
		if err != nil {
			inventoryError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, plan)
	})
}

// inventoryReader is the store's inventory as inventory_change checks
// read it (checks.InventoryReader).
type inventoryReader struct{ st *store.Store }

var _ checks.InventoryReader = inventoryReader{}

func (r inventoryReader) InventoryChangesSince(since time.Time, n int) ([]checks.InventoryChange, error) {
	cs, err := r.st.InventoryChangesSince(since, n)
	out := make([]checks.InventoryChange, 0, len(cs))
	for _, c := range cs {
		out = append(out, checks.InventoryChange{Time: c.Time, Kind: c.Kind, Key: c.Key, IP: c.IP, MAC: c.MAC, Detail: c.Detail})
	}
	return out, err
}

func (r inventoryReader) GoneDevices(before time.Time) ([]checks.InventoryChange, error) {
	inv, err := r.st.Inventory()
	var out []checks.InventoryChange
	for _, d := range inv {
		if !d.Gone || !d.LastSeen.Before(before) || d.Decision != nil && d.Decision.Ignored {
			continue
		}
		out = append(out, checks.InventoryChange{Time: d.LastSeen, Kind: checks.ChangeGone, Key: d.Key, IP: d.IP, MAC: d.MAC,
			Detail: fmt.Sprintf("%s (%s) at %s, last seen %s", d.Label(), d.EffectiveClass(), d.IP, d.LastSeen.UTC().Format(time.RFC3339))})
	}
	slices.SortFunc(out, func(a, b checks.InventoryChange) int { return a.Time.Compare(b.Time) })
	return out, err
}

// discoveredSince are the inventory changes recorded after a time, for
// a phone-home summary (summary.Builder.Discovered).
func (a *Appliance) discoveredSince(after time.Time, n int) ([]phwire.DiscoveryChange, error) {
	cs, err := a.store.InventoryChangesSince(after, n+1)
	out := make([]phwire.DiscoveryChange, 0, len(cs))
	for _, c := range cs {
		if !c.Time.After(after) {
			continue
		}
		out = append(out, phwire.DiscoveryChange{Time: c.Time, Kind: c.Kind, IP: c.IP, MAC: c.MAC, OldIP: c.OldIP, Detail: c.Detail})
	}
	if len(out) > n {
		out = out[:n]
	}
	return out, err
}
