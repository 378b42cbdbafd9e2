//go:build linux

package main

import (
	"encoding/csv"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"outpost/appliance"
)

// nsDaemon is the real daemon running in the fleet's scanner namespace.
type nsDaemon struct {
	cmd  *exec.Cmd
	logs *syncBuffer
}

func startNSDaemon(t *testing.T, f *fleet, cfg, data string) *nsDaemon {
	t.Helper()
	d := &nsDaemon{logs: &syncBuffer{}}
	d.cmd = exec.Command("ip", "netns", "exec", f.scanner, binPath, "run", "--config", cfg, "--data", data, "--listen", "127.0.0.1:0")
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	return d
}

func (d *nsDaemon) stop() {
	if d.cmd.ProcessState == nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
		d.cmd.Wait()
	}
}

// sweeps waits until the daemon logged n finished sweeps.
func (d *nsDaemon) sweeps(t *testing.T, n int) {
	t.Helper()
	waitFor(t, "discovery sweep", patience, func() string {
		if strings.Count(d.logs.String(), "discovery sweep done") >= n {
			return ""
		}
		return "log:\n" + d.logs.String()
	})
}

func inventoryRows(t *testing.T, data string) map[string]appliance.InventoryRow {
	t.Helper()
	out, code := outpost(t, "inventory", "--json", "--data", data)
	if code != 0 {
		t.Fatalf("inventory --json: exit %d\n%s", code, out)
	}
	var rows []appliance.InventoryRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	m := map[string]appliance.InventoryRow{}
	for _, r := range rows {
		m[r.IP] = r
	}
	return m
}

// TestInventoryDecisionsSurviveSweepsAndRestarts: a technician
// overrides a class, renames, labels, ignores and merges through
// `outpost inventory` against the running daemon; after a restart and a
// "scan now" sweep the decisions hold, the ignored device's departure is
// not reported and the merged record does not come back.
func TestInventoryDecisionsSurviveSweepsAndRestarts(t *testing.T) {
	f := newFleet(t)
	web := f.addHost("web", "10.200.7.10", "00:16:3e:00:07:10", true)
	f.listen(web, "10.200.7.10", "Outpost test web", "web1.test", 22, 80)
	f.addHost("echo", "10.200.7.12", "00:16:3e:00:07:12", true)
	f.addHost("tv", "10.200.7.13", "00:16:3e:00:07:13", true)   // ignored, then leaves
	f.addHost("nic2", "10.200.7.16", "00:16:3e:00:07:16", true) // the same machine's second NIC
	cfg := writeConfig(t, `site: Acme
ui: {disabled: true}
discovery:
  rate: 500
  interval: 1h
  subnets:
    - {cidr: 10.200.7.0/24, enabled: true}
    - {cidr: 10.200.8.0/24}
`)
	data := t.TempDir()
	d := startNSDaemon(t, f, cfg, data)
	d.sweeps(t, 1)

	run := func(want string, args ...string) string {
		t.Helper()
		out, code := outpost(t, append(append([]string{"inventory"}, args...), "--data", data, "--by", "ann")...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("inventory %s: exit %d, want %q:\n%s", strings.Join(args, " "), code, want, out)
		}
		return out
	}
	run("printer (set; sweep: unknown)", "class", "10.200.7.12", "printer")
	run("reception-printer", "rename", "10.200.7.12", "reception-printer")
	run("room=front desk", "label", "reception-printer", "room=front desk")
	run("present,ignored", "ignore", "00:16:3e:00:07:13")
	run("merged", "merge", "reception-printer", "10.200.7.16")
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"class", "10.200.7.12", "toaster"}, `class "toaster" is not one of server, workstation, printer`},
		{[]string{"rename", "10.200.7.99", "x"}, `"10.200.7.99": no such device in the inventory`},
		{[]string{"scan", "10.200.8.0/24"}, "10.200.8.0/24 is not an enabled discovery subnet"},
		{[]string{"merge", "10.200.7.12", "10.200.7.12"}, "are the same device"},
		{[]string{"label", "10.200.7.12", "novalue"}, `"novalue" is not KEY=VALUE`},
	} {
		out, code := outpost(t, append(append([]string{"inventory"}, bad.args...), "--data", data)...)
		if code == 0 || !strings.Contains(out, bad.want) {
			t.Errorf("inventory %s: exit %d, want %q:\n%s", strings.Join(bad.args, " "), code, bad.want, out)
		}
	}

	// The ignored TV leaves (it holds no socket of the test process, so
	// its namespace goes at once); the daemon restarts; a scan now sweeps
	// again although the interval has not passed.
	f.delHost("tv")
	d.stop()
	d = startNSDaemon(t, f, cfg, data)
	waitFor(t, "the control socket", patience, func() string {
		if out, code := outpost(t, "inventory", "subnets", "--data", data); code != 0 {
			return out
		}
		return ""
	})
	out := run("10.200.7.0/24: 254 addresses at 500 probes/s, about", "scan", "10.200.7.0/24")
	t.Log(strings.TrimSpace(out))
	d.sweeps(t, 1)
	if strings.Contains(d.logs.String(), "inventory change") {
		t.Errorf("the second sweep reported changes (the ignored device left; the merged NIC answered):\n%s", d.logs.String())
	}
	rows := inventoryRows(t, data)
	p := rows["10.200.7.12"]
	if p.EffectiveClass() != "printer" || p.Class != "unknown" || p.Label() != "reception-printer" || p.Decision.Labels["room"] != "front desk" ||
		p.Decision.By != "ann" || !slices.Contains(p.Merged, "00:16:3e:00:07:16") {
		t.Errorf("decided device %+v %+v", p, p.Decision)
	}
	if w := rows["10.200.7.13"]; !w.Gone || w.Decision == nil || !w.Decision.Ignored {
		t.Errorf("ignored device %+v", w)
	}
	if _, ok := rows["10.200.7.16"]; ok {
		t.Errorf("the merged record came back: %+v", rows)
	}

	t.Run("CSV export", func(t *testing.T) {
		out := run("key,name,class", "list", "--csv")
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(recs) != len(rows)+1 {
			t.Fatalf("%d records (%v):\n%s", len(recs), err, out)
		}
		col := func(name string) int { return slices.Index(recs[0], name) }
		found := false
		for _, r := range recs[1:] {
			if r[col("ip")] == "10.200.7.12" {
				found = r[col("class")] == "printer" && r[col("sweep_class")] == "unknown" && r[col("labels")] == "room=front desk" &&
					strings.Contains(r[col("macs")], "00:16:3e:00:07:16")
			}
		}
		if !found {
			t.Errorf("no decided printer row:\n%s", out)
		}
	})
	t.Run("subnets: enable from the CLI, suggested connected subnet", func(t *testing.T) {
		out := run("10.200.9.0/24  enabled", "enable", "10.200.9.0/24")
		if !strings.Contains(out, "10.200.8.0/24  listed, off") {
			t.Errorf("subnets:\n%s", out)
		}
		var ss []appliance.SubnetState
		json.Unmarshal([]byte(run("10.200.7.0/24", "subnets", "--json")), &ss)
		for _, s := range ss {
			if s.CIDR == "10.200.7.0/24" && (!s.Suggested || !s.Enabled || s.LastSweep.IsZero()) {
				t.Errorf("connected subnet %+v", s)
			}
		}
		run("10.200.9.0/24  listed, off", "disable", "10.200.9.0/24")
	})
}
