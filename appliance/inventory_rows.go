package appliance

import (
	"encoding/csv"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"outpost/checks/agent"
	"outpost/store"
)

// InventoryDevice and InventoryChange are the store's inventory records,
// as the CLI reads them from the control API.
type (
	InventoryDevice = store.InventoryDevice
	InventoryChange = store.InventoryChange
)

// InventoryRow is a discovered device with what its paired agent, if
// one serves its address, reports.
type InventoryRow struct {
	store.InventoryDevice
	Agent *AgentFacts `json:"agent,omitempty"`
}

// AgentFacts are a paired agent's inventory for a discovered device.
type AgentFacts struct {
	Name      string       `json:"name"`
	OS        string       `json:"os,omitempty"`
	CPU       string       `json:"cpu,omitempty"`
	Serial    string       `json:"serial,omitempty"`
	Collected time.Time    `json:"collected"`
	Apps      []AppVersion `json:"apps,omitempty"`
	Patches   int          `json:"patches"`
	Pending   int          `json:"pending_patches"`
}

// AppVersion is one installed application.
type AppVersion struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// InventoryRows lists the discovered devices with their agents' facts.
func (a *Appliance) InventoryRows() ([]InventoryRow, error) {
	inv, err := a.store.Inventory()
	if err != nil {
		return nil, err
	}
	// Paired agents by the address they serve on.
	byIP := map[string]*AgentFacts{}
	for _, ac := range a.Config().Agents {
		rec, ok, err := a.store.GetAgent(ac.Name)
		if err != nil || !ok || rec.Revoked() {
			continue
		}
		host := rec.Address
		if h, _, err := net.SplitHostPort(rec.Address); err == nil {
			host = h
		}
		f := &AgentFacts{Name: ac.Name, OS: rec.OS}
		if w, ok := a.agentInventory(ac.Name); ok {
			f.OS, f.CPU, f.Serial, f.Collected = agent.OSName(w), w.CPU, w.Serial, w.Collected
			f.Patches, f.Pending = agent.PatchCounts(w)
			for _, app := range w.Apps {
				f.Apps = append(f.Apps, AppVersion{Name: app.Name, Version: app.Version})
			}
		}
		byIP[host] = f
	}
	out := make([]InventoryRow, 0, len(inv))
	for _, d := range inv {
		out = append(out, InventoryRow{InventoryDevice: d, Agent: byIP[d.IP]})
	}
	return out, nil
}

// InventoryCSVHeader are the columns of the inventory export.
var InventoryCSVHeader = []string{"key", "name", "class", "sweep_class", "confidence", "evidence", "ip", "mac", "vendor",
	"snmp_descr", "snmp_object_id", "model", "snmp_serial", "firmware", "subnet", "first_seen", "last_seen", "gone", "ignored", "labels", "ports",
	"addresses", "macs", "merged", "agent", "os", "serial", "apps", "patches", "pending_patches"}

// WriteInventoryCSV writes rows as CSV (RFC 4180) with InventoryCSVHeader.
// Cells that a spreadsheet would run as a formula (=, +, -, @) are
// quoted with a leading apostrophe: device names come from the network.
func WriteInventoryCSV(w io.Writer, rows []InventoryRow) error {
	cw := csv.NewWriter(w)
	cw.Write(InventoryCSVHeader)
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	hist := func(h []store.Seen) string {
		var s []string
		for _, v := range h {
			s = append(s, v.Value+" ("+ts(v.First)+" .. "+ts(v.Last)+")")
		}
		return strings.Join(s, "; ")
	}
	for _, r := range rows {
		d := r.InventoryDevice
		ignored, labels := false, ""
		if d.Decision != nil {
			ignored = d.Decision.Ignored
			var ls []string
			for k, v := range d.Decision.Labels {
				ls = append(ls, k+"="+v)
			}
			sort.Strings(ls)
			labels = strings.Join(ls, "; ")
		}
		var ports []string
		for _, p := range d.Ports {
			ports = append(ports, strconv.Itoa(p))
		}
		descr, oid, model, sn, fw := "", "", "", "", ""
		if d.SNMP != nil {
			descr, oid, model, sn, fw = d.SNMP.Descr, d.SNMP.ObjectID, d.SNMP.Model, d.SNMP.Serial, d.SNMP.Firmware
		}
		ag, os, serial, apps, patches, pending := "", "", "", "", "", ""
		if f := r.Agent; f != nil {
			ag, os, serial = f.Name, f.OS, f.Serial
			var as []string
			for _, a := range f.Apps {
				as = append(as, strings.TrimSpace(a.Name+" "+a.Version))
			}
			apps, patches, pending = strings.Join(as, "; "), strconv.Itoa(f.Patches), strconv.Itoa(f.Pending)
		}
		row := []string{d.Key, d.Label(), d.EffectiveClass(), d.Class, strconv.FormatFloat(d.Confidence, 'f', 2, 64),
			strings.Join(d.Evidence, "; "), d.IP, d.MAC, d.Vendor, descr, oid, model, sn, fw, d.Subnet, ts(d.FirstSeen), ts(d.LastSeen),
			strconv.FormatBool(d.Gone), strconv.FormatBool(ignored), labels, strings.Join(ports, " "),
			hist(d.Addresses), hist(d.MACs), strings.Join(d.Merged, " "), ag, os, serial, apps, patches, pending}
		for i, c := range row {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				row[i] = "'" + c
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
