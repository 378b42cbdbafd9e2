package appliance

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"outpost/appliance/config"
	"outpost/appliance/scheduler"
	"outpost/checks"
	"outpost/checks/discovery"
	"outpost/store"
)

// Check templates: the checks a discovered device can answer, made from
// what it answered in its last sweep (discovery.Suggest), then each run
// once before it is turned on. A check whose trial run does not come
// back ok or warning is left out with its reason, so applying a template
// never turns on a check the device cannot answer.

// TemplateCheck is one check of a template and its trial run.
type TemplateCheck struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// Status and Detail are the trial run's (empty in a plan).
	Status string `json:"status,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Added: turned on. Reason says why not (already configured, the
	// trial run failed).
	Added  bool   `json:"added"`
	Reason string `json:"reason,omitempty"`
}

// TemplateResult is a template applied (or planned) for one device.
type TemplateResult struct {
	Key    string `json:"key"`
	IP     string `json:"ip"`
	Device string `json:"device"`
	Class  string `json:"class"`
	// DeviceAdded: the device was added to devices: (false when the
	// config already had one at its address, or nothing was added).
	DeviceAdded bool            `json:"device_added"`
	Checks      []TemplateCheck `json:"checks"`
}

// hostOf rebuilds the sweep's view of an inventory device, for Suggest:
// the technician's class and name win.
func hostOf(d store.InventoryDevice) (discovery.Host, error) {
	ip, err := netip.ParseAddr(d.IP)
	if err != nil {
		return discovery.Host{}, fmt.Errorf("device %s has no usable address (%q)", d.Key, d.IP)
	}
	h := discovery.Host{IP: ip, MAC: d.MAC, Vendor: d.Vendor, ICMP: d.ICMP, OpenPorts: d.Ports, Class: d.EffectiveClass(), Confidence: d.Confidence, Self: d.Self}
	if n := d.Label(); n != "" && n != d.IP && n != d.MAC && !strings.Contains(n, " (") {
		h.Names = []string{n}
	}
	if f := d.SNMP; f != nil {
		h.SNMP = &discovery.System{Descr: f.Descr, ObjectID: f.ObjectID, Name: f.Name, MIBs: f.MIBs, Interfaces: f.Interfaces}
	}
	return h, nil
}

// PlanTemplate is the template for device ref, without trial runs.
func (a *Appliance) PlanTemplate(ref string) (TemplateResult, error) {
	d, err := a.store.InventoryDeviceOf(ref)
	if err != nil {
		return TemplateResult{}, err
	}
	h, err := hostOf(d)
	if err != nil {
		return TemplateResult{}, err
	}
	res, _, _ := a.template(d.Key, h)
	return res, nil
}

// template is the suggestion for h fitted to the config in force: an
// existing device at its address is used by name, checks already there
// are marked so. It returns the entries to add.
func (a *Appliance) template(key string, h discovery.Host) (TemplateResult, *discovery.SuggestedDevice, []discovery.SuggestedCheck) {
	cfg := a.Config()
	dc := discovery.ConfigOf(cfg)
	res := TemplateResult{Key: key, IP: h.IP.String(), Class: h.Class}
	ss := discovery.Suggest([]discovery.Host{h}, dc.SNMP)
	if len(ss) == 0 {
		return res, nil, nil // the box itself
	}
	s := ss[0]
	name := s.Device.Name
	var dev *discovery.SuggestedDevice
	if i := slices.IndexFunc(cfg.Devices, func(d checks.Device) bool { return d.Address == h.IP.String() }); i >= 0 {
		name = cfg.Devices[i].Name
	} else {
		for n := 2; cfg.Device(name) != nil; n++ {
			name = fmt.Sprintf("%s-%d", s.Device.Name, n)
		}
		dv := s.Device
		dv.Name = name
		dev = &dv
	}
	res.Device = name
	var add []discovery.SuggestedCheck
	for _, c := range s.Checks {
		// The suggestion named the device its way; use the name chosen.
		c.ID = name + strings.TrimPrefix(c.ID, s.Device.Name)
		if c.Target == s.Device.Name {
			c.Target = name
		}
		if c.Labels != nil {
			c.Labels = map[string]string{"device": name}
		}
		tc := TemplateCheck{ID: c.ID, Kind: c.Kind, Target: c.Target}
		if slices.ContainsFunc(cfg.Checks, func(x config.Check) bool { return x.ID == c.ID || x.Kind == c.Kind && x.Target == c.Target }) {
			tc.Reason = "already configured"
		} else {
			add = append(add, c)
		}
		res.Checks = append(res.Checks, tc)
	}
	return res, dev, add
}

// templateTrial bounds one check's trial run.
const templateTrial = 15 * time.Second

// ApplyTemplate applies the template of device ref (see
// ApplyTemplateFor).
func (a *Appliance) ApplyTemplate(ctx context.Context, ref, who string) (TemplateResult, error) {
	d, err := a.store.InventoryDeviceOf(ref)
	if err != nil {
		return TemplateResult{}, err
	}
	h, err := hostOf(d)
	if err != nil {
		return TemplateResult{}, err
	}
	return a.applyHostTemplate(ctx, d.Key, h, who)
}

// applyHostTemplate runs each new check of h's template once, in a
// config that has them, and applies the config with those that
// answered (and the device when one did) as a new config version.
func (a *Appliance) applyHostTemplate(ctx context.Context, key string, h discovery.Host, who string) (TemplateResult, error) {
	a.editMu.Lock() // the config must not change between the trial and the edit
	defer a.editMu.Unlock()
	res, dev, add := a.template(key, h)
	if len(add) == 0 {
		return res, nil
	}
	cur := a.Config()
	build := func(with []discovery.SuggestedCheck) ([]byte, *config.Config, error) {
		raw := cur.Raw
		var err error
		if dev != nil {
			if raw, err = config.AppendEntries(raw, "devices", []any{*dev}); err != nil {
				return nil, nil, err
			}
		}
		entries := make([]any, 0, len(with))
		for _, c := range with {
			entries = append(entries, c)
		}
		if raw, err = config.AppendEntries(raw, "checks", entries); err != nil {
			return nil, nil, err
		}
		cfg, err := config.ParseEdited(cur.File, raw)
		return raw, cfg, err
	}
	_, trialCfg, err := build(add)
	if err != nil {
		return res, fmt.Errorf("the template of %s does not make a valid config: %w", res.Device, err)
	}
	jobs, err := BuildJobs(trialCfg, a.deps)
	if err != nil {
		return res, err
	}
	var keep []discovery.SuggestedCheck
	for _, c := range add {
		i := slices.IndexFunc(jobs, func(j scheduler.Job) bool { return j.Spec.ID == c.ID })
		tc := &res.Checks[slices.IndexFunc(res.Checks, func(t TemplateCheck) bool { return t.ID == c.ID })]
		if i < 0 {
			tc.Reason = "not built"
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, min(jobs[i].Spec.Timeout, templateTrial))
		r := jobs[i].Checker.Check(tctx)
		cancel()
		tc.Status, tc.Detail = r.Status.String(), r.Detail
		if r.Status == checks.OK || r.Status == checks.Warning {
			keep = append(keep, c)
			tc.Added = true
		} else {
			tc.Reason = "its trial run did not answer"
		}
	}
	if len(keep) == 0 {
		res.DeviceAdded = false
		return res, nil
	}
	_, cfg, err := build(keep)
	if err != nil {
		return res, err
	}
	if err := a.applySource(cfg, "check template by "+who); err != nil {
		return res, err
	}
	res.DeviceAdded = dev != nil
	a.log.Info("check template applied", "device", res.Device, "ip", res.IP, "checks", len(keep), "by", who)
	return res, nil
}

// SweepApplyRequest carries a sweep made outside the daemon (`outpost
// discover --apply`): it is recorded in the inventory like the daemon's
// own, then every host's template is applied.
type SweepApplyRequest struct {
	Subnet string           `json:"subnet"`
	Hosts  []discovery.Host `json:"hosts"`
	By     string           `json:"by"`
}

// maxApplyHosts bounds one request (a /16 sweep finds at most this).
const maxApplyHosts = discovery.MaxAddresses

// ApplySweep records a sweep and applies each host's template; the
// results come in the hosts' order (the box itself has none).
func (a *Appliance) ApplySweep(ctx context.Context, r SweepApplyRequest) ([]TemplateResult, error) {
	p, err := netip.ParsePrefix(r.Subnet)
	if err != nil {
		return nil, fmt.Errorf("subnet %q is not a CIDR subnet", r.Subnet)
	}
	if len(r.Hosts) > maxApplyHosts {
		return nil, fmt.Errorf("%d hosts; a sweep finds at most %d", len(r.Hosts), maxApplyHosts)
	}
	for _, h := range r.Hosts {
		if !p.Contains(h.IP) {
			return nil, fmt.Errorf("host %s is not in %s", h.IP, p)
		}
	}
	changes, err := a.store.RecordSweep(p.Masked().String(), a.o.Clock.Now(), sightingsOf(r.Hosts))
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		a.log.Warn("inventory change: "+c.Detail, "kind", c.Kind, "ip", c.IP, "mac", c.MAC)
	}
	var out []TemplateResult
	for _, h := range r.Hosts {
		if h.Self {
			continue
		}
		ref := h.MAC
		if ref == "" {
			ref = "ip:" + h.IP.String()
		}
		res, err := a.ApplyTemplate(ctx, ref, r.By)
		if err != nil {
			return out, fmt.Errorf("%s: %w", h.IP, err)
		}
		out = append(out, res)
	}
	return out, nil
}
