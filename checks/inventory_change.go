package checks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

func init() {
	Register(Kind{Name: "inventory_change", Summary: "discovery saw a change (new device, device gone for a while, MAC moved, IP claimed by a second MAC, firmware changed): fails for a window after it", New: newInventoryChange})
}

// InventoryChangeCheck turns the inventory's changes into results, so
// they open incidents and notify through the normal path with the
// check's own severity and policy. It fails while a matching change is
// younger than its window; for device_gone with gone_for, while a device
// has been gone that long (until it is back or a technician ignores it).
// It reads the store on each run, so restarts forget nothing.
type InventoryChangeCheck struct {
	kinds   []string
	window  time.Duration
	goneFor time.Duration
	status  Status
	deps    Deps
}

var _ Checker = (*InventoryChangeCheck)(nil)

// Bounds of its options.
const (
	maxInventoryWindow  = 30 * 24 * time.Hour
	maxInventoryGoneFor = 365 * 24 * time.Hour
	// inventoryScan is how many changes one run reads at most.
	inventoryScan = 1000
)

type inventoryChangeOptions struct {
	Change  nameList      `yaml:"change"`
	Window  time.Duration `yaml:"window"`
	GoneFor time.Duration `yaml:"gone_for"`
	Status  string        `yaml:"status"`
}

func newInventoryChange(s Spec, deps Deps) (Checker, error) {
	var o inventoryChangeOptions
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	c := &InventoryChangeCheck{window: o.Window, goneFor: o.GoneFor, status: Warning, deps: deps.WithDefaults()}
	if len(o.Change) == 0 {
		return nil, &FieldError{Field: "options.change", Msg: "is required: one or a list of " + strings.Join(InventoryChangeKinds, ", ")}
	}
	for _, k := range o.Change {
		if !slices.Contains(InventoryChangeKinds, k) {
			return nil, &FieldError{Field: "options.change", Msg: fmt.Sprintf("%q is not a kind of inventory change (one of %s)", k, strings.Join(InventoryChangeKinds, ", "))}
		}
		c.kinds = append(c.kinds, k)
	}
	if c.window == 0 {
		c.window = time.Hour
	}
	if c.window < 0 || c.window > maxInventoryWindow {
		return nil, &FieldError{Field: "options.window", Msg: fmt.Sprintf("%s is out of range (1s to 30d)", c.window)}
	}
	if c.goneFor < 0 || c.goneFor > maxInventoryGoneFor {
		return nil, &FieldError{Field: "options.gone_for", Msg: fmt.Sprintf("%s is out of range (0 to 365d)", c.goneFor)}
	}
	if c.goneFor > 0 && !slices.Equal(c.kinds, []string{ChangeGone}) {
		return nil, &FieldError{Field: "options.gone_for", Msg: "applies to change: device_gone alone"}
	}
	switch o.Status {
	case "", "warning":
	case "critical":
		c.status = Critical
	default:
		return nil, &FieldError{Field: "options.status", Msg: fmt.Sprintf("%q is not warning or critical", o.Status)}
	}
	if s.Target != "" {
		return nil, &FieldError{Field: "target", Msg: "inventory_change watches the whole inventory: leave target out"}
	}
	return c, nil
}

// Check implements Checker.
func (c *InventoryChangeCheck) Check(ctx context.Context) Result {
	start := time.Now()
	now := c.deps.Clock.Now()
	res := Result{Time: now}
	if c.deps.Inventory == nil {
		res.Status, res.Detail = Unknown, "no inventory in this process (inventory_change checks run in the daemon)"
		return res
	}
	var hits []InventoryChange
	var err error
	what := strings.Join(c.kinds, " or ")
	if c.goneFor > 0 {
		hits, err = c.deps.Inventory.GoneDevices(now.Add(-c.goneFor))
	} else {
		var all []InventoryChange
		all, err = c.deps.Inventory.InventoryChangesSince(now.Add(-c.window), inventoryScan)
		for _, ch := range all {
			if slices.Contains(c.kinds, ch.Kind) {
				hits = append(hits, ch)
			}
		}
	}
	res.Latency = time.Since(start)
	if err != nil {
		res.Status, res.Detail = Unknown, "reading the inventory: "+err.Error()
		return res
	}
	res.Value = float64(len(hits))
	if len(hits) == 0 {
		res.Status = OK
		if c.goneFor > 0 {
			res.Detail = fmt.Sprintf("no device gone for %s", c.goneFor)
		} else {
			res.Detail = fmt.Sprintf("no %s in the last %s", what, c.window)
		}
		return res
	}
	res.Status = c.status
	newest := hits[len(hits)-1]
	if c.goneFor > 0 {
		res.Detail = fmt.Sprintf("%d device(s) gone for %s or more: %s", len(hits), c.goneFor, newest.Detail)
	} else {
		res.Detail = fmt.Sprintf("%d %s in the last %s; newest: %s", len(hits), what, c.window, newest.Detail)
	}
	return res
}
