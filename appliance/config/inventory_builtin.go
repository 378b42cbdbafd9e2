package config

import (
	"time"

	"go.yaml.in/yaml/v3"

	"outpost/checks"
)

// The inventory's default policy: once a discovery subnet is enabled,
// a new device opens an info incident and an IP claimed by a second MAC
// a warning, through the normal incident and notification path. A
// config whose own inventory_change checks watch one of those changes
// sets its own policy for it instead.
const (
	BuiltinNewDeviceCheck = "outpost-new-device"
	BuiltinIPClaimedCheck = "outpost-ip-claimed"
)

func (c *Config) addInventoryBuiltins() {
	// The discovery section is the discovery package's; it says.
	dc, ok := c.Section("discovery").(interface{ AnyEnabled() bool })
	if !ok || !dc.AnyEnabled() {
		return
	}
	// Which changes the config's own inventory_change checks watch.
	covered := map[string]bool{}
	for _, ch := range c.Checks {
		covered[ch.ID] = true
		if ch.Kind != "inventory_change" {
			continue
		}
		if n := mapNode(&ch.Options, "change"); n != nil {
			covered[n.Value] = true
			for _, e := range n.Content {
				covered[e.Value] = true
			}
		}
	}
	for _, b := range []struct {
		id, change string
		window     time.Duration
		sev        checks.Severity
	}{
		{BuiltinNewDeviceCheck, checks.ChangeNewDevice, time.Hour, checks.SeverityInfo},
		{BuiltinIPClaimedCheck, checks.ChangeIPClaimed, 24 * time.Hour, checks.SeverityWarning},
	} {
		if covered[b.id] || covered[b.change] {
			continue
		}
		var opts yaml.Node
		opts.Encode(map[string]any{"change": b.change, "window": b.window.String()})
		c.Checks = append(c.Checks, Check{ID: b.id, Kind: "inventory_change", Interval: 30 * time.Second, Options: opts, Confirm: 1, Recover: 1,
			Labels: checks.Labels{Severity: b.sev}, Builtin: true, path: "checks (built in)"})
	}
}
