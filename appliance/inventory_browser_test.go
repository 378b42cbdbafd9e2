package appliance_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserInventory drives the inventory page of a running daemon in
// chromium: discovery is off until the technician enables a subnet
// (loopback here: 127.0.0.0/29, the only addresses a test may sweep),
// "Scan now" says how long the sweep takes, the swept devices appear
// with class, evidence and confidence, a class override, a name, a label
// and a merge made on the device page hold after another scan, and the
// CSV export carries them.
func TestBrowserInventory(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip("cannot listen on 127.0.0.2: ", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	// An agent paired from 127.0.0.1 serves the box's own address: its
	// inventory shows on that device's inventory page.
	a, cfgPath := MustRun(t, fmt.Sprintf("site: Acme Dental, 2nd floor closet\ndiscovery: {rate: 200, ports: [%d]}\nagents:\n  - {name: web01, address: '127.0.0.1:9'}\n", port))
	seedAgentInventory(t, a)
	base := a.UIURL()
	ctx, cancel := browser(t)
	defer cancel()
	claimInBrowser(t, ctx, base, cfgPath)

	visit(t, ctx, base+"/inventory", `[data-testid="subnets"]`)
	for _, s := range a.DiscoverySubnets() {
		if s.Enabled || s.Configured {
			t.Fatalf("a subnet is on before anyone enabled it: %+v", s)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#cidr"), "127.0.0.0/29"),
		chromedp.Click(chromedp.CSS(`[data-testid="enable-other"]`)),
	); err != nil {
		t.Fatal(err)
	}
	settled(t, ctx, `[data-testid="msg"]`, "127.0.0.0/29 enabled")
	if !strings.Contains(string(a.ConfigYAML()), "127.0.0.0/29") {
		t.Fatalf("the config in force does not list the subnet:\n%s", a.ConfigYAML())
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="scan-127.0.0.0/29"]`))); err != nil {
		t.Fatal(err)
	}
	settled(t, ctx, `[data-testid="msg"]`, "Scan queued. 127.0.0.0/29: 6 addresses at 200 probes/s, about")

	// The sweep lands in the inventory.
	row := `[data-testid="inv-127.0.0.2"]`
	waitFor(t, "the swept devices on the page", patience, func() (bool, string) {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/inventory"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="inventory-counts"]`))); err != nil {
			return false, err.Error()
		}
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="inv-127.0.0.2"]').length`))
		return err == nil && n == 1, fmt.Sprint(err, " rows: ", n)
	})
	if got := text(t, ctx, row); !strings.Contains(got, fmt.Sprintf("port %d", port)) && !strings.Contains(got, "127.0.0.2") {
		t.Errorf("row %q", got)
	}
	self := text(t, ctx, `[data-testid="inv-127.0.0.1"]`)
	if !strings.Contains(self, "server") || !strings.Contains(self, "this box") {
		t.Errorf("the box's own row %q", self)
	}
	screenshot(t, ctx, "inventory")
	visit(t, ctx, base+"/inventory/"+url.PathEscape("ip:127.0.0.1"), `[data-testid="inv-agent"]`)
	for _, want := range []string{"Debian GNU/Linux 12 (bookworm)", "CZ2049XYZ", "0 installed, 2 pending"} {
		waitText(t, ctx, `[data-testid="inv-agent"]`, want)
	}
	waitText(t, ctx, "details", "3 applications")
	visit(t, ctx, base+"/inventory", row)

	// Decisions on the device page.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(row+" a")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="decide"]`)),
		chromedp.SetValue(chromedp.CSS("#class"), "printer"),
		chromedp.SetValue(chromedp.CSS("#name"), "reception-printer"),
		chromedp.SetValue(chromedp.CSS("#labels"), "room=front desk\nowner=Dr Smith"),
		chromedp.Click(chromedp.CSS(`[data-testid="decide"] button`)),
	); err != nil {
		t.Fatal(err)
	}
	settled(t, ctx, `[data-testid="msg"]`, "saved")
	waitText(t, ctx, `[data-testid="inv-class"]`, "printer (set by a technician; the sweep says")
	waitText(t, ctx, `[data-testid="inv-labels"]`, "owner=Dr Smith, room=front desk")
	mergeKey, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#drop option')].find(o => o.textContent.includes("127.0.0.3")).value`))
	if err != nil || mergeKey == "" {
		t.Fatalf("no 127.0.0.3 record to merge: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#drop"), mergeKey),
		chromedp.Click(chromedp.CSS(`[data-testid="merge"] button`)),
	); err != nil {
		t.Fatal(err)
	}
	settled(t, ctx, `[data-testid="msg"]`, "merged "+mergeKey)
	waitText(t, ctx, `[data-testid="address-history"]`, "127.0.0.3")

	// The check template: what it answered (echo), run once, turned on.
	waitText(t, ctx, `[data-testid="template"]`, "ping")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="apply-template"]`))); err != nil {
		t.Fatal(err)
	}
	settled(t, ctx, `[data-testid="msg"]`, "1 check(s) turned on for")
	waitText(t, ctx, `[data-testid="template"] .badge.st-ok`, "ADDED")
	waitText(t, ctx, `[data-testid="template"]`, "trial: ok")
	var pings int
	for _, c := range a.Checks() {
		if c.Kind == "ping" && c.Target == "127.0.0.2" {
			pings++
		}
	}
	if pings != 1 {
		t.Errorf("%d ping checks of 127.0.0.2 in the config in force, want 1", pings)
	}
	screenshot(t, ctx, "inventory-device")

	// A bad label line is refused with the reason, nothing saved.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#labels"), "room=front desk\nno equals sign"),
		chromedp.Click(chromedp.CSS(`[data-testid="decide"] button`)),
	); err != nil {
		t.Fatal(err)
	}
	settled(t, ctx, `[data-testid="form-error"]`, `labels, line 2: "no equals sign" is not key=value`)

	// Another scan keeps the decisions; the merged record stays merged.
	var before time.Time
	for _, s := range a.DiscoverySubnets() {
		if s.CIDR == "127.0.0.0/29" {
			before = s.LastSweep
		}
	}
	if _, err := a.ScanNow("127.0.0.0/29"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second sweep", patience, func() (bool, string) {
		for _, s := range a.DiscoverySubnets() {
			if s.CIDR == "127.0.0.0/29" {
				return s.LastSweep.After(before), s.LastSweep.String()
			}
		}
		return false, "no subnet"
	})
	visit(t, ctx, base+"/inventory", row)
	if got := text(t, ctx, row+` [data-testid="class"]`); !strings.Contains(got, "printer") || !strings.Contains(text(t, ctx, row), "reception-printer") {
		t.Errorf("after a re-sweep the row says %q / %q", got, text(t, ctx, row))
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="inv-127.0.0.3"]').length`)); n != 0 {
		t.Errorf("the merged 127.0.0.3 record came back")
	}

	// The export, as the browser downloads it.
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/inventory.csv").then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(recs) < 3 {
		t.Fatalf("CSV %v:\n%s", err, body)
	}
	col := func(name string) int { return slices.Index(recs[0], name) }
	ok := false
	for _, r := range recs[1:] {
		if r[col("ip")] == "127.0.0.2" {
			ok = r[col("name")] == "reception-printer" && r[col("class")] == "printer" && r[col("labels")] == "owner=Dr Smith; room=front desk" &&
				strings.Contains(r[col("addresses")], "127.0.0.3") && r[col("merged")] != ""
		}
	}
	if !ok {
		t.Errorf("CSV lacks the decided device:\n%s", body)
	}
	agentRow := false
	for _, r := range recs[1:] {
		if r[col("ip")] == "127.0.0.1" {
			agentRow = r[col("agent")] == "web01" && strings.Contains(r[col("apps")], "nginx 1.22.1-9") && r[col("pending_patches")] == "2" && r[col("serial")] == "CZ2049XYZ"
		}
	}
	if !agentRow {
		t.Errorf("CSV lacks the agent's inventory on the box's own row:\n%s", body)
	}
}

// settled waits, across the navigation a form post causes, until the
// element's text contains want.
func settled(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%q in %s", want, sel), patience, func() (bool, string) {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, sel)))
		return err == nil && strings.Contains(got, want), fmt.Sprint(got, err)
	})
}
