package appliance

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"outpost/checks/discovery"
	"outpost/store"
)

// discoveryPoll is how often the discovery service looks whether an
// enabled subnet is due; discoveryFirst is the first look after start.
// A subnet is due when its last recorded sweep (kept in the store, so a
// box that restarts in a loop does not sweep in one) is an interval old.
const (
	discoveryPoll  = time.Minute
	discoveryFirst = 10 * time.Second
)

// runDiscovery sweeps the subnets the config in force enables
// (`discovery:`, off by default), each on the section's interval, keeps
// what it finds in the store's inventory and logs the changes.
func (a *Appliance) runDiscovery(ctx context.Context) {
	t := a.o.Clock.NewTimer(discoveryFirst)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-a.disc.now: // scan now (inventory.go)
			a.disc.mu.Lock()
			delete(a.disc.queued, p)
			a.disc.mu.Unlock()
			// Still enabled? The config may have changed since.
			if cfg := discovery.ConfigOf(a.Config()); slices.Contains(cfg.Enabled(), p) {
				a.sweep(ctx, cfg, p)
			}
			continue
		case <-t.C():
		}
		cfg := discovery.ConfigOf(a.Config())
		now := a.o.Clock.Now()
		for _, p := range cfg.Enabled() {
			last, err := a.store.LastSweep(p.String())
			if err != nil || now.Sub(last) < cfg.Interval {
				continue
			}
			a.sweep(ctx, cfg, p)
		}
		t.Stop()
		t.Reset(discoveryPoll)
	}
}

// sweep runs one sweep of p and records it.
func (a *Appliance) sweep(ctx context.Context, cfg *discovery.Config, p netip.Prefix) {
	o := cfg.Options(p)
	o.Log = a.log
	if d, err := o.WithDefaults(); err == nil {
		a.log.Info("discovery sweep starting", "subnet", p, "rate", d.Rate, "estimate", d.Estimate(0).Round(time.Second))
	}
	a.disc.mu.Lock()
	a.disc.running, a.disc.since = p, a.o.Clock.Now()
	a.disc.mu.Unlock()
	defer func() {
		a.disc.mu.Lock()
		a.disc.running = netip.Prefix{}
		a.disc.mu.Unlock()
	}()
	res, err := discovery.Sweep(ctx, o)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("discovery sweep failed", "subnet", p, "err", err)
		}
		return
	}
	seen := sightingsOf(res.Hosts)
	changes, err := a.store.RecordSweep(p.String(), a.o.Clock.Now(), seen)
	if err != nil {
		a.log.Error("recording a discovery sweep", "subnet", p, "err", err)
		return
	}
	a.log.Info("discovery sweep done", "subnet", p, "hosts", len(res.Hosts), "probes", res.Probes, "took", res.Took.Round(time.Millisecond), "changes", len(changes))
	for _, c := range changes {
		a.log.Warn("inventory change: "+c.Detail, "kind", c.Kind, "ip", c.IP, "mac", c.MAC)
	}
}

// sightingsOf are a sweep's hosts as the inventory keeps them.
func sightingsOf(hosts []discovery.Host) []store.Sighting {
	seen := make([]store.Sighting, 0, len(hosts))
	for _, h := range hosts {
		name := ""
		if len(h.Names) > 0 {
			name = h.Names[0]
		} else if h.SNMP != nil {
			name = h.SNMP.Name
		} else if h.MDNS != nil {
			name = h.MDNS.Name
		}
		sg := store.Sighting{IP: h.IP.String(), MAC: h.MAC, Vendor: h.Vendor, Name: name, Class: h.Class,
			Confidence: h.Confidence, Evidence: h.Evidence, Ports: h.OpenPorts, ICMP: h.ICMP, Self: h.Self}
		for _, a := range h.IPv6 {
			sg.IPv6 = append(sg.IPv6, a.String())
		}
		if h.SNMP != nil {
			sg.SNMP = &store.SNMPFacts{Descr: h.SNMP.Descr, ObjectID: h.SNMP.ObjectID, Name: h.SNMP.Name, MIBs: h.SNMP.MIBs, Interfaces: h.SNMP.Interfaces,
				Model: h.SNMP.Model, Serial: h.SNMP.Serial, Firmware: h.SNMP.Firmware}
		}
		seen = append(seen, sg)
	}
	return seen
}
