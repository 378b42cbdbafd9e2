package appliance

import (
	"context"
	"errors"
	"io"
	"sort"

	"outpost/checks/discovery"
	"outpost/store"
	"outpost/ui"
)

var _ ui.InventoryBackend = uiBackend{}

// inventoryViewOf is a discovered device as the UI shows it.
func inventoryViewOf(r InventoryRow) ui.InventoryDeviceView {
	d := r.InventoryDevice
	v := ui.InventoryDeviceView{Key: d.Key, Name: d.Label(), Class: d.EffectiveClass(), SweepClass: d.Class, Confidence: d.Confidence,
		Evidence: d.Evidence, IP: d.IP, MAC: d.MAC, Vendor: d.Vendor, Subnet: d.Subnet, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen,
		Gone: d.Gone, Ports: d.Ports, Merged: d.Merged}
	if d.SNMP != nil {
		v.SNMPDescr, v.SNMPObjectID = d.SNMP.Descr, d.SNMP.ObjectID
		v.Model, v.Serial, v.Firmware = d.SNMP.Model, d.SNMP.Serial, d.SNMP.Firmware
	}
	if dec := d.Decision; dec != nil {
		v.ClassSet, v.Ignored, v.DecidedBy, v.DecidedAt = dec.Class != "", dec.Ignored, dec.By, dec.At
		for k, val := range dec.Labels {
			v.Labels = append(v.Labels, k+"="+val)
		}
		sort.Strings(v.Labels)
	}
	for _, s := range d.Addresses {
		v.Addresses = append(v.Addresses, ui.SeenView{Value: s.Value, First: s.First, Last: s.Last})
	}
	for _, s := range d.MACs {
		v.MACs = append(v.MACs, ui.SeenView{Value: s.Value, First: s.First, Last: s.Last})
	}
	if f := r.Agent; f != nil {
		v.AgentName = f.Name
		iv := &ui.InventoryView{Collected: f.Collected, OS: f.OS, CPU: f.CPU, Serial: f.Serial, Patches: f.Patches, PendingPatches: f.Pending}
		for _, a := range f.Apps {
			iv.Apps = append(iv.Apps, ui.InventoryApp{Name: a.Name, Version: a.Version})
		}
		v.Agent = iv
	}
	return v
}

func (b uiBackend) InventoryDevices() ([]ui.InventoryDeviceView, error) {
	rows, err := b.a.InventoryRows()
	if err != nil {
		return nil, err
	}
	out := make([]ui.InventoryDeviceView, 0, len(rows))
	for _, r := range rows {
		out = append(out, inventoryViewOf(r))
	}
	return out, nil
}

func (b uiBackend) InventoryDevice(key string) (ui.InventoryDeviceView, error) {
	rows, err := b.a.InventoryRows()
	if err != nil {
		return ui.InventoryDeviceView{}, err
	}
	for _, r := range rows {
		if r.Key == key {
			return inventoryViewOf(r), nil
		}
	}
	return ui.InventoryDeviceView{}, ui.Errorf(ui.ENOTFOUND, "no device %s in the inventory", key)
}

func (b uiBackend) InventoryCSV(w io.Writer) error {
	rows, err := b.a.InventoryRows()
	if err != nil {
		return err
	}
	return WriteInventoryCSV(w, rows)
}

func (b uiBackend) DiscoverySubnets() []ui.SubnetView {
	var out []ui.SubnetView
	for _, s := range b.a.DiscoverySubnets() {
		out = append(out, ui.SubnetView{CIDR: s.CIDR, Configured: s.Configured, Enabled: s.Enabled, Suggested: s.Suggested, Queued: s.Queued,
			Running: !s.Running.IsZero(), LastSweep: s.LastSweep, Plan: s.Plan.Text()})
	}
	return out
}

func (b uiBackend) SetSubnet(cidr string, enabled bool, user string) error {
	return formError(b.a.SetDiscoverySubnet(cidr, enabled, user))
}

func (b uiBackend) ScanNow(cidr string) (string, error) {
	plan, err := b.a.ScanNow(cidr)
	if err != nil {
		return "", ui.Errorf(ui.EINVALID, "%s", err.Error())
	}
	return plan.Text(), nil
}

func (b uiBackend) Decide(key string, f ui.DecisionForm, user string) error {
	labels := map[string]string{}
	if cur, err := b.a.InventoryDevice(key); err == nil && cur.Decision != nil {
		for k := range cur.Decision.Labels {
			labels[k] = "" // the form lists every label: one left out is removed
		}
	}
	for k, v := range f.Labels {
		labels[k] = v
	}
	name := f.Name
	if cur, err := b.a.InventoryDevice(key); err == nil && (cur.Decision == nil || cur.Decision.Name == "") && name == cur.Label() {
		name = "" // the device's own name, shown in the form, is not a decision
	}
	_, err := b.a.Decide(DecideRequest{Ref: key, Class: &f.Class, Name: &name, Labels: labels, Ignored: &f.Ignored, By: user})
	return uiInventoryError(err)
}

func (b uiBackend) Merge(keep, drop, user string) error {
	_, err := b.a.Merge(MergeRequest{Keep: keep, Drop: drop, By: user})
	return uiInventoryError(err)
}

func (b uiBackend) DeviceClasses() []string { return discovery.Classes }

// uiInventoryError makes the inventory's refusals the user's errors.
func uiInventoryError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNoInventoryDevice):
		return ui.Errorf(ui.ENOTFOUND, "%s", err.Error())
	case errors.Is(err, store.ErrBadDecision):
		return ui.Errorf(ui.EINVALID, "%s", err.Error())
	}
	return err
}

func templateView(r TemplateResult, applied bool) ui.TemplateView {
	v := ui.TemplateView{Device: r.Device, Applied: applied}
	for _, c := range r.Checks {
		v.Checks = append(v.Checks, ui.TemplateCheckView{ID: c.ID, Kind: c.Kind, Target: c.Target, Status: c.Status, Detail: c.Detail, Added: c.Added, Reason: c.Reason})
	}
	return v
}

func (b uiBackend) Template(key string) (ui.TemplateView, error) {
	r, err := b.a.PlanTemplate(key)
	if err != nil {
		return ui.TemplateView{}, uiInventoryError(err)
	}
	return templateView(r, false), nil
}

func (b uiBackend) ApplyTemplate(ctx context.Context, key, user string) (ui.TemplateView, error) {
	r, err := b.a.ApplyTemplate(ctx, key, user)
	if err != nil {
		if errors.Is(err, ErrConfigInvalid) {
			return ui.TemplateView{}, ui.Errorf(ui.EINVALID, "%s", err.Error())
		}
		return ui.TemplateView{}, uiInventoryError(err)
	}
	return templateView(r, true), nil
}
