//go:build linux

package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

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

// TestInventoryChangesOpenIncidents: the daemon in the namespace LAN
// with a webhook channel (a server in the scanner namespace's own
// loopback). The first sweep's new devices open an info incident (the
// default policy); between sweeps one host leaves, one moves its MAC to
// another IP and a second MAC claims a held IP; the scan now that
// follows opens a warning for the claimed IP (default), a warning for the
// moved MAC and a critical for the device gone longer than its gone_for
// (the config's own checks), each notified on the webhook with its
// severity.
func TestInventoryChangesOpenIncidents(t *testing.T) {
	f := newFleet(t)
	f.addHost("echo", "10.200.7.12", "00:16:3e:00:07:12", true) // moves to .15
	f.addHost("leaver", "10.200.7.13", "00:16:3e:00:07:13", true)
	f.addHost("old", "10.200.7.14", "00:16:3e:00:07:14", true) // its IP is claimed
	var ln net.Listener
	var err error
	inNS(t, f.scanner, func() { ln, err = net.Listen("tcp", "127.0.0.1:0") })
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	hooks := map[string]string{} // check -> severity of its "opened" message
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ Kind, Check, Severity, Summary string }
		json.NewDecoder(r.Body).Decode(&m)
		if m.Kind == "opened" {
			mu.Lock()
			hooks[m.Check] = m.Severity
			mu.Unlock()
		}
	}), ErrorLog: quiet}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	cfg := writeConfig(t, fmt.Sprintf(`site: Acme
ui: {disabled: true}
notify:
  channels:
    - {name: hook, kind: webhook, options: {url: 'http://%s/hook'}}
  policies:
    - {name: everything, steps: [{channels: [hook]}], repeat: 0}
discovery:
  rate: 500
  interval: 1h
  subnets:
    - {cidr: 10.200.7.0/24, enabled: true}
checks:
  - {id: mac-moved, kind: inventory_change, interval: 2s, confirm: 1, options: {change: mac_moved, window: 1h}, labels: {severity: warning}}
  - {id: gone-a-while, kind: inventory_change, interval: 2s, confirm: 1, options: {change: device_gone, gone_for: 3s, status: critical}, labels: {severity: critical}}
`, ln.Addr()))
	data := t.TempDir()
	d := startNSDaemon(t, f, cfg, data)
	d.sweeps(t, 1)

	opened := func(check string) (string, bool) {
		var list []struct {
			Check    string `json:"check"`
			Severity string `json:"severity"`
			Summary  string `json:"summary"`
			Resolved *time.Time
		}
		if err := controlJSON(data, "/incidents?limit=50", &list); err != nil {
			return err.Error(), false
		}
		for _, inc := range list {
			if inc.Check == check {
				return inc.Severity + ": " + inc.Summary, true
			}
		}
		return fmt.Sprint(list), false
	}
	want := func(check, severity, summary string) {
		t.Helper()
		waitFor(t, "an incident of "+check, patience, func() string {
			got, ok := opened(check)
			if ok && strings.HasPrefix(got, severity+": ") && strings.Contains(got, summary) {
				mu.Lock()
				defer mu.Unlock()
				if hooks[check] == severity {
					return ""
				}
				return "incident " + got + " but no webhook yet: " + fmt.Sprint(hooks)
			}
			return got
		})
	}
	want("outpost-new-device", "info", "new_device in the last 1h")

	f.delHost("leaver")
	f.moveHost("echo", "10.200.7.12", "10.200.7.15")
	f.delHost("old")
	f.addHost("claimer", "10.200.7.14", "00:16:3e:00:07:99", true)
	if out, code := outpost(t, "inventory", "scan", "10.200.7.0/24", "--data", data); code != 0 {
		t.Fatalf("scan: %s", out)
	}
	d.sweeps(t, 2)
	// The scanner's neighbour cache may still hold the old MAC for the
	// reused address until the kernel re-probes it (seconds): as the
	// daemon's periodic sweeps would, sweep again until it is seen.
	lastScan := time.Now()
	waitFor(t, "a sweep to see 10.200.7.14 answer with its new MAC", patience, func() string {
		if _, ok := opened("outpost-ip-claimed"); ok {
			return ""
		}
		if time.Since(lastScan) > 5*time.Second {
			outpost(t, "inventory", "scan", "10.200.7.0/24", "--data", data)
			lastScan = time.Now()
		}
		return "no outpost-ip-claimed incident yet"
	})
	want("outpost-ip-claimed", "warning", "10.200.7.14 now answers with MAC 00:16:3e:00:07:99, was 00:16:3e:00:07:14")
	want("mac-moved", "warning", "MAC 00:16:3e:00:07:12 moved from 10.200.7.12 to 10.200.7.15")
	want("gone-a-while", "critical", "device(s) gone for 3s or more")
}

// controlJSON reads the daemon's control API at path into out.
func controlJSON(data, path string, out any) error {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", filepath.Join(data, "control.sock"))
	}}}
	resp, err := c.Get("http://outpost" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// TestInventoryChangeConfigErrors: inventory_change options are checked
// like every kind's, and the default policy appears once a subnet is
// enabled, unless the config's own checks watch the same change.
func TestInventoryChangeConfigErrors(t *testing.T) {
	for _, c := range []struct{ checks, want string }{
		{`{id: a, kind: inventory_change, options: {change: toaster}}`, `checks[0].options.change: "toaster" is not a kind of inventory change (one of new_device, device_gone, device_back, mac_moved, ip_claimed, firmware_changed)`},
		{`{id: a, kind: inventory_change}`, `checks[0].options.change: is required`},
		{`{id: a, kind: inventory_change, options: {change: new_device, gone_for: 7d}}`, `checks[0].options.gone_for: applies to change: device_gone alone`},
		{`{id: a, kind: inventory_change, options: {change: new_device, status: info}}`, `checks[0].options.status: "info" is not warning or critical`},
		{`{id: a, kind: inventory_change, target: 10.0.0.1, options: {change: new_device}}`, `checks[0].target: inventory_change watches the whole inventory`},
	} {
		cfg := writeConfig(t, "site: Acme\nchecks:\n  - "+c.checks+"\n")
		out, code := outpost(t, "check", "--config", cfg)
		if code == 0 || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, want %q:\n%s", c.checks, code, c.want, out)
		}
	}
	off := writeConfig(t, "site: Acme\ndiscovery: {subnets: [{cidr: 192.0.2.0/24}]}\n")
	if out, _ := outpost(t, "check", "--config", off); strings.Contains(out, "outpost-new-device") {
		t.Errorf("default inventory policy without an enabled subnet:\n%s", out)
	}
	on := writeConfig(t, "site: Acme\ndiscovery: {subnets: [{cidr: 192.0.2.0/24, enabled: true}]}\nchecks:\n  - {id: mine, kind: inventory_change, options: {change: [new_device]}}\n")
	out, code := outpost(t, "check", "--config", on)
	if code != 0 || strings.Contains(out, "outpost-new-device") || !strings.Contains(out, "outpost-ip-claimed") {
		t.Errorf("own new_device check: want only outpost-ip-claimed built in:\n%s", out)
	}
}

// TestInventoryChangesPhoneHome: a box and a real `outpost hq`, both in
// the scanner namespace; each discovery change reaches hq once, in the
// summary after the sweep that saw it (only changes), and every stored
// summary matches docs/phone-home.schema.json.
func TestInventoryChangesPhoneHome(t *testing.T) {
	f := newFleet(t)
	f.addHost("echo", "10.200.7.12", "00:16:3e:00:07:12", true)
	f.addHost("leaver", "10.200.7.13", "00:16:3e:00:07:13", true)
	dir := t.TempDir()
	caFile, certFile, keyFile, _ := testCA(t, dir, "hq")
	hqData, boxData := t.TempDir(), t.TempDir()
	const hqAddr = "127.0.0.1:18444" // the scanner namespace's own loopback
	hqCmd := exec.Command("ip", "netns", "exec", f.scanner, binPath, "hq", "run", "--data", hqData, "--listen", hqAddr, "--ui-listen", "127.0.0.1:18445",
		"--cert", certFile, "--key", keyFile)
	hqLog := &syncBuffer{}
	hqCmd.Stdout, hqCmd.Stderr = hqLog, hqLog
	if err := hqCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hqCmd.Process.Kill(); hqCmd.Wait() })
	waitFor(t, "hq to answer hq list", patience, func() string {
		if _, code := outpost(t, "hq", "list", "--data", hqData); code != 0 {
			return "hq never answered:\n" + hqLog.String()
		}
		return ""
	})
	cfg := writeConfig(t, fmt.Sprintf(`site: Acme
ui: {disabled: true}
phonehome: {url: 'https://%s/v1/summaries', interval: 300ms, ca_file: '%s', backoff_max: 1s}
discovery:
  rate: 500
  interval: 1h
  subnets:
    - {cidr: 10.200.7.0/24, enabled: true}
`, hqAddr, caFile))
	d := startNSDaemon(t, f, cfg, boxData)
	var out string
	waitFor(t, "the box identity", patience, func() string {
		out, _ = outpost(t, "bundle", "status", "--data", boxData)
		if strings.Contains(out, "box public key:") {
			return ""
		}
		return out
	})
	id := regexp.MustCompile(`box id:\s+(ob-[0-9a-f]+)`).FindStringSubmatch(out)
	key := regexp.MustCompile(`box public key:\s+(ed25519:\S+)`).FindStringSubmatch(out)
	if id == nil || key == nil {
		t.Fatalf("bundle status:\n%s", out)
	}
	if out, code := outpost(t, "hq", "register", "--box", id[1], "--key", key[1], "--data", hqData); code != 0 {
		t.Fatalf("register: %s", out)
	}
	drainedAfter := func(sweeps int) {
		t.Helper()
		d.sweeps(t, sweeps)
		// The summaries after the sweep are acknowledged.
		st0 := phoneStatusOf(t, boxData)
		waitFor(t, "a summary after the sweep acknowledged", patience, func() string {
			st := phoneStatusOf(t, boxData)
			if st.Depth != 0 || st.LastAck <= st0.NextSeq {
				return fmt.Sprintf("%+v (after %+v)", st, st0)
			}
			return ""
		})
	}
	drainedAfter(1)
	f.delHost("leaver")
	if out, code := outpost(t, "inventory", "scan", "10.200.7.0/24", "--data", boxData); code != 0 {
		t.Fatalf("scan: %s", out)
	}
	drainedAfter(2)
	d.stop()
	hqCmd.Process.Signal(syscall.SIGTERM)
	hqCmd.Wait()

	seen := map[string]int{} // kind ip -> summaries that carried it
	for _, doc := range validateStored(t, hqData, id[1]) {
		inv, _ := doc["inventory"].(map[string]any)
		list, _ := inv["discovered"].([]any)
		for _, c := range list {
			m, _ := c.(map[string]any)
			seen[fmt.Sprint(m["kind"], " ", m["ip"])]++
		}
	}
	for _, want := range []string{"new_device 10.200.7.12", "new_device 10.200.7.13", "device_gone 10.200.7.13"} {
		if seen[want] != 1 {
			t.Errorf("%q in %d summaries, want exactly 1 (all: %v)", want, seen[want], seen)
		}
	}
}

// TestCheckTemplatesApplied: the daemon in the namespace LAN sweeps a
// server, a D-Link switch and an Eaton UPS (snmpsim) with the site's
// SNMP credentials. `outpost inventory apply` on the server after one of
// its ports closed turns on what still answers and leaves the closed
// port's check off; `outpost discover --apply` then sweeps and turns on
// the switch's interfaces, the UPS's battery and the pings, each run
// once first; the checks are in the config in force and run there.
func TestCheckTemplatesApplied(t *testing.T) {
	f := newFleet(t)
	web := f.addHost("web", "10.200.7.10", "00:16:3e:00:07:10", true)
	f.listen(web, "10.200.7.10", "Outpost test web", "web1.test", 22)
	var ln80 net.Listener
	var err error
	inNS(t, web, func() { ln80, err = net.Listen("tcp", "10.200.7.10:80") })
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln80.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	sw := f.addHost("switch", "10.200.7.21", "00:05:5d:00:07:21", true)
	f.snmpsim(sw, "10.200.7.21", filepath.Join("checks", "discovery", "testdata", "snmprec", "switch_dlink_des3038.snmprec"))
	ups := f.addHost("ups", "10.200.7.22", "00:20:85:00:07:22", true)
	f.snmpsim(ups, "10.200.7.22", filepath.Join("checks", "discovery", "testdata", "snmprec", "ups_eaton_93e.snmprec"))
	cfg := writeConfig(t, `site: Acme
ui: {disabled: true}
discovery:
  rate: 1000
  interval: 1h
  ports: [22, 80]
  snmp: {community: outpost-test}
  subnets:
    - {cidr: 10.200.7.0/24, enabled: true}
`)
	data := t.TempDir()
	d := startNSDaemon(t, f, cfg, data)
	d.sweeps(t, 1)

	out, code := outpost(t, "inventory", "template", "10.200.7.10", "--data", data)
	if code != 0 || !strings.Contains(out, "tcp-80") || !strings.Contains(out, "tcp-22") {
		t.Fatalf("template of the server: %s", out)
	}
	ln80.Close() // port 80 stops answering after the sweep
	out, code = outpost(t, "inventory", "apply", "10.200.7.10", "--data", data, "--by", "ann")
	t.Logf("apply:\n%s", out)
	if code != 0 || !regexp.MustCompile(`web1-tcp-22\s.*ok.*added`).MatchString(out) || !regexp.MustCompile(`(?m)web1-tcp-80\s.*critical.*off: its trial run did not answer$`).MatchString(out) {
		t.Fatalf("inventory apply: exit %d\n%s", code, out)
	}

	cmd := exec.Command("ip", "netns", "exec", f.scanner, binPath, "discover", "--subnet", fleetNet, "--rate", "1000", "--ports", "22,80",
		"--community", "outpost-test", "--no-dns", "--apply", "--data", data, "--by", "ann")
	b, err := cmd.CombinedOutput()
	out = string(b)
	t.Logf("discover --apply:\n%s", out)
	if err != nil {
		t.Fatalf("discover --apply: %v\n%s", err, out)
	}
	for _, re := range []string{`-interfaces\s+snmp_interfaces\s.*added`, `-battery\s+snmp_ups\s.*added`, `-ping\s+ping\s+10\.200\.7\.21\s.*added`,
		`web1-tcp-22\s.*already configured`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("discover --apply lacks %s", re)
		}
	}
	if strings.Contains(out, "snmp_storage") || strings.Contains(out, "snmp_printer") {
		t.Errorf("a template has a check the device cannot answer:\n%s", out)
	}
	// In the config in force, and running there.
	var states []struct {
		ID     string
		Kind   string
		Latest *struct{ Status string }
	}
	waitFor(t, "the applied checks to run", patience, func() string {
		states = nil
		if err := controlJSON(data, "/checks", &states); err != nil {
			return err.Error()
		}
		kinds := map[string]bool{}
		for _, s := range states {
			if strings.HasPrefix(s.ID, "web1-tcp-80") {
				return "the unanswered check was turned on"
			}
			if s.Latest != nil {
				kinds[s.Kind] = true
			}
		}
		if kinds["snmp_interfaces"] && kinds["snmp_ups"] && kinds["tcp"] && kinds["ping"] {
			return ""
		}
		return fmt.Sprint(kinds)
	})
}

// TestDiscoveryFindsIPv6Addresses: the namespace LAN also speaks IPv6
// (ULA fd00:200:7::/64 and each interface's link-local address); the
// sweep finds each host's IPv6 addresses through one echo to all nodes
// per box address and the NDP table, matched by MAC, and --no-ipv6 sends
// none of it.
func TestDiscoveryFindsIPv6Addresses(t *testing.T) {
	f := newFleet(t)
	f.sh("ip", "-n", f.scanner, "addr", "add", "fd00:200:7::1/64", "dev", "br0", "nodad")
	hosts := map[string]string{"web": "10.200.7.10", "echo": "10.200.7.12", "v4only": "10.200.7.13"}
	for name, ip := range hosts {
		ns := f.addHost(name, ip, "00:16:3e:00:07:"+strings.Split(ip, ".")[3], true)
		if name != "v4only" {
			f.sh("ip", "-n", ns, "addr", "add", "fd00:200:7::"+strings.Split(ip, ".")[3]+"/64", "dev", "eth0", "nodad")
		}
	}
	// Link-local addresses are usable once duplicate address detection
	// is done.
	waitFor(t, "link-local addresses past DAD", patience, func() string {
		for _, ns := range f.nss {
			if out := f.sh("ip", "-n", ns, "-6", "addr", "show", "tentative"); strings.TrimSpace(out) != "" {
				return ns + ": " + out
			}
		}
		return ""
	})
	r, said := f.sweep("--no-dns")
	t.Logf("%s%d probes in %s, notes %v", said, r.Probes, r.Took, r.Notes)
	h := byIP(r)
	v6 := func(ip string) (global []string, linkLocal int) {
		for _, a := range h[ip].IPv6 {
			if a.IsLinkLocalUnicast() {
				linkLocal++
			} else {
				global = append(global, a.String())
			}
		}
		return
	}
	for _, c := range []struct{ ip, global string }{{"10.200.7.10", "fd00:200:7::10"}, {"10.200.7.12", "fd00:200:7::12"}, {"10.200.7.13", ""}} {
		g, ll := v6(c.ip)
		if ll != 1 || (c.global == "") != (len(g) == 0) || c.global != "" && !slices.Equal(g, []string{c.global}) {
			t.Errorf("%s: IPv6 %v, want %q and one link-local", c.ip, h[c.ip].IPv6, c.global)
		}
	}
	if rate := float64(r.Probes) / r.Took.Seconds(); rate > 100*1.05 {
		t.Errorf("%d probes in %s: over the ceiling", r.Probes, r.Took)
	}
	r2, _ := f.sweep("--no-dns", "--no-ipv6", "--rate", "1000")
	for _, x := range r2.Hosts {
		if len(x.IPv6) > 0 {
			t.Errorf("--no-ipv6 found %v for %s", x.IPv6, x.IP)
		}
	}
	if r.Probes-r2.Probes > 2+3 || r.Probes <= r2.Probes {
		t.Errorf("IPv6 cost %d probes (want one per box address and at most one per host)", r.Probes-r2.Probes)
	}
}

// withEntity writes a copy of recording with an ENTITY-MIB chassis row
// (model, serial, firmware) into dir, its OIDs kept in order.
func withEntity(t *testing.T, recording, dir, firmware string) string {
	t.Helper()
	b, err := os.ReadFile(recording)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	lines = append(lines,
		"1.3.6.1.2.1.47.1.1.1.1.2.1|4|DES-3028 chassis",
		"1.3.6.1.2.1.47.1.1.1.1.9.1|4|"+firmware,
		"1.3.6.1.2.1.47.1.1.1.1.11.1|4|QB1H29A000123",
		"1.3.6.1.2.1.47.1.1.1.1.13.1|4|DES-3028")
	oidKey := func(l string) []int {
		var k []int
		for _, p := range strings.Split(strings.SplitN(l, "|", 2)[0], ".") {
			n, _ := strconv.Atoi(p)
			k = append(k, n)
		}
		return k
	}
	head := []string{}
	if strings.HasPrefix(lines[0], "#") {
		head, lines = lines[:1], lines[1:]
	}
	sort.SliceStable(lines, func(i, j int) bool { return slices.Compare(oidKey(lines[i]), oidKey(lines[j])) < 0 })
	p := filepath.Join(dir, "switch-"+firmware+".snmprec")
	if err := os.WriteFile(p, []byte(strings.Join(append(head, lines...), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDiscoveryReadsEntityMIBAndFirmwareChanges: a switch whose agent
// has ENTITY-MIB: the sweep reads its model, serial and firmware into
// the inventory (in the same request as the MIB probes); after a
// firmware update (the agent restarted with the new revision) a scan
// now records firmware_changed and the config's inventory_change check
// opens an info incident.
func TestDiscoveryReadsEntityMIBAndFirmwareChanges(t *testing.T) {
	f := newFleet(t)
	sw := f.addHost("switch", "10.200.7.21", "00:05:5d:00:07:21", true)
	dir := t.TempDir()
	base := filepath.Join("checks", "discovery", "testdata", "snmprec", "switch_dlink_des3038.snmprec")
	f.snmpsim(sw, "10.200.7.21", withEntity(t, base, dir, "1.00.B01"))
	cfg := writeConfig(t, `site: Acme
ui: {disabled: true}
discovery:
  rate: 1000
  interval: 1h
  snmp: {community: outpost-test}
  subnets:
    - {cidr: 10.200.7.0/24, enabled: true}
checks:
  - {id: firmware, kind: inventory_change, interval: 2s, confirm: 1, options: {change: firmware_changed, window: 1h}, labels: {severity: info}}
`)
	data := t.TempDir()
	d := startNSDaemon(t, f, cfg, data)
	d.sweeps(t, 1)
	r := inventoryRows(t, data)["10.200.7.21"]
	if r.SNMP == nil || r.SNMP.Model != "DES-3028" || r.SNMP.Serial != "QB1H29A000123" || r.SNMP.Firmware != "1.00.B01" {
		t.Fatalf("switch facts %+v", r.SNMP)
	}
	// The update: the agent comes back with the new revision.
	old := f.procs[len(f.procs)-1]
	old.Process.Kill()
	old.Wait()
	f.snmpsim(sw, "10.200.7.21", withEntity(t, base, dir, "1.10.B02"))
	if out, code := outpost(t, "inventory", "scan", "10.200.7.0/24", "--data", data); code != 0 {
		t.Fatalf("scan: %s", out)
	}
	d.sweeps(t, 2)
	if !strings.Contains(d.logs.String(), "firmware 1.10.B02, was 1.00.B01") {
		t.Fatalf("no firmware change logged:\n%s", d.logs.String())
	}
	waitFor(t, "the firmware incident", patience, func() string {
		var list []struct{ Check, Severity, Summary string }
		if err := controlJSON(data, "/incidents?limit=20", &list); err != nil {
			return err.Error()
		}
		for _, inc := range list {
			if inc.Check == "firmware" && inc.Severity == "info" && strings.Contains(inc.Summary, "firmware 1.10.B02") {
				return ""
			}
		}
		return fmt.Sprint(list)
	})
	if r := inventoryRows(t, data)["10.200.7.21"]; r.SNMP == nil || r.SNMP.Firmware != "1.10.B02" {
		t.Errorf("after the update %+v", r.SNMP)
	}
}

// TestDiscoveryLLDPHints: a ProCurve switch (snmpsim, its recorded LLDP
// remote table) reports a Cisco Nexus bridge and blade NICs as
// neighbours; the two hosts in the LAN that carry those MACs get the
// switch's word as evidence, and the one that says it is a bridge is
// classed a switch without answering SNMP itself.
func TestDiscoveryLLDPHints(t *testing.T) {
	f := newFleet(t)
	sw := f.addHost("procurve", "10.200.7.30", "00:16:3e:00:07:30", true)
	f.snmpsim(sw, "10.200.7.30", filepath.Join("checks", "discovery", "testdata", "snmprec", "switch_hpe_procurve_lldp.snmprec"))
	f.addHost("nexus", "10.200.7.31", "8c:60:4f:19:16:3a", true) // the recording's port 17 neighbour
	f.addHost("blade", "10.200.7.32", "e8:39:35:1a:ca:99", true) // its port 8 neighbour, a station
	r, said := f.sweep("--community", "outpost-test", "--no-dns", "--no-ipv6", "--rate", "1000")
	t.Logf("%s%d probes", said, r.Probes)
	h := byIP(r)
	if s := h["10.200.7.30"].SNMP; s == nil || len(s.Neighbours) != 5 {
		t.Fatalf("the switch's LLDP table: %+v", s)
	}
	n := h["10.200.7.31"]
	ev := strings.Join(n.Evidence, "; ")
	if n.Class != "switch" || !strings.Contains(ev, "LLDP (switch 10.200.7.30 port 17): a bridge, NWPU-CA-5548-01") || len(n.LLDP) != 1 || n.LLDP[0].PortID != "Eth1/19" {
		t.Errorf("nexus %+v (evidence %q)", n, ev)
	}
	b := h["10.200.7.32"]
	if b.Class != "unknown" || !strings.Contains(strings.Join(b.Evidence, "; "), "LLDP (switch 10.200.7.30 port 8): a station, Emulex OneConnect") {
		t.Errorf("blade %+v", b)
	}
	if rate := float64(r.Probes) / r.Took.Seconds(); rate > 1000*1.05 {
		t.Errorf("over the ceiling: %.0f/s", rate)
	}
}

// TestDiscoveryCDPHints: a Catalyst 3560 (snmpsim, its recorded CDP
// cache, one neighbour's address moved into the test's LAN) reports a
// WS-C3560 neighbour; the host at that address is classed a switch on
// the Catalyst's word.
func TestDiscoveryCDPHints(t *testing.T) {
	f := newFleet(t)
	b, err := os.ReadFile(filepath.Join("checks", "discovery", "testdata", "snmprec", "switch_cisco_c3560_cdp.snmprec"))
	if err != nil {
		t.Fatal(err)
	}
	// 10.1.100.141 (the neighbour on ifIndex 10150) becomes 10.200.7.41.
	rec := strings.Replace(string(b), "1.3.6.1.4.1.9.9.23.1.2.1.1.4.10150.4|4x|0a01648d", "1.3.6.1.4.1.9.9.23.1.2.1.1.4.10150.4|4x|0ac80729", 1)
	p := filepath.Join(t.TempDir(), "cisco.snmprec")
	os.WriteFile(p, []byte(rec), 0o644)
	sw := f.addHost("catalyst", "10.200.7.40", "00:16:3e:00:07:40", true)
	f.snmpsim(sw, "10.200.7.40", p)
	f.addHost("access", "10.200.7.41", "00:16:3e:00:07:41", true)
	r, said := f.sweep("--community", "outpost-test", "--no-dns", "--no-ipv6", "--rate", "1000")
	t.Logf("%s%d probes", said, r.Probes)
	h := byIP(r)
	if s := h["10.200.7.40"].SNMP; s == nil || len(s.Neighbours) != 9 || s.Neighbours[0].Proto != "CDP" {
		t.Fatalf("the Catalyst's CDP cache: %+v", s)
	}
	a := h["10.200.7.41"]
	ev := strings.Join(a.Evidence, "; ")
	if a.Class != "switch" || !strings.Contains(ev, "CDP (switch 10.200.7.40 port 10150): a bridge, kexuehuitang cisco WS-C3560-48TS") {
		t.Errorf("access switch %+v (evidence %q)", a, ev)
	}
}

// TestDiscoveryMDNSHints: a host in the LAN runs Debian's avahi-daemon
// (mDNS responder, publishing its workstation service); the sweep's one
// mDNS service enumeration finds its service and host name, and classes
// it a workstation on that clue; --no-mdns sends none.
func TestDiscoveryMDNSHints(t *testing.T) {
	bin, err := exec.LookPath("avahi-daemon")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("avahi-daemon not found")
		}
		t.Skip("avahi-daemon not found (Debian avahi-daemon)")
	}
	if _, err := os.Stat("/run/avahi-daemon/pid"); err == nil {
		t.Skip("an avahi-daemon already runs on this machine (its pid file is shared)")
	}
	f := newFleet(t)
	ns := f.addHost("pc", "10.200.7.50", "00:16:3e:00:07:50", true)
	conf := filepath.Join(t.TempDir(), "avahi.conf")
	os.WriteFile(conf, []byte("[server]\nhost-name=closet-pc\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=eth0\nenable-dbus=no\n"+
		"[wide-area]\nenable-wide-area=no\n[publish]\npublish-workstation=yes\npublish-addresses=yes\npublish-hinfo=no\n"), 0o644)
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "-f", conf, "--no-drop-root", "--no-chroot", "--no-rlimits", "--no-proc-title", "--debug")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.procs = append(f.procs, cmd)
	waitFor(t, "avahi-daemon to publish", patience, func() string {
		if strings.Contains(logs.String(), "Server startup complete") && strings.Contains(logs.String(), "successfully established") {
			return ""
		}
		return logs.String()
	})
	r, said := f.sweep("--no-dns", "--no-ipv6", "--rate", "1000")
	t.Logf("%s%d probes, notes %v", said, r.Probes, r.Notes)
	h := byIP(r)["10.200.7.50"]
	if h.MDNS == nil || !slices.Contains(h.MDNS.Services, "_workstation._tcp") || h.MDNS.Name != "closet-pc.local" {
		t.Fatalf("mDNS answer %+v", h.MDNS)
	}
	if h.Class != "workstation" || !slices.Contains(h.Evidence, "mDNS: offers _workstation._tcp") {
		t.Errorf("host %+v", h)
	}
	r2, _ := f.sweep("--no-dns", "--no-ipv6", "--no-mdns", "--rate", "1000")
	if x := byIP(r2)["10.200.7.50"]; x.MDNS != nil || r.Probes-r2.Probes != 1 {
		t.Errorf("--no-mdns: %+v, %d probes less", x.MDNS, r.Probes-r2.Probes)
	}
}
