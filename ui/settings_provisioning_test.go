package ui

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestProvisioningViewShowsTrust: the settings page says which MSP key the
// box trusts and how, flags a key pinned by trust on first use, and says
// that a box trusting no key refuses every stick.
func TestProvisioningViewShowsTrust(t *testing.T) {
	render := func(p ProvisioningView) string {
		var b bytes.Buffer
		if err := settingsView(SettingsView{About: About{Provisioning: p}}).Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	out := render(ProvisioningView{})
	if !strings.Contains(out, `data-testid="msp-key">none trusted: every stick is refused`) || strings.Contains(out, "msp-key-first-use") || strings.Contains(out, "bundle-version") {
		t.Fatalf("no key trusted:\n%s", out)
	}
	at := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	out = render(ProvisioningView{PinnedKey: "0123456789abcdef", PinnedAt: at, PinnedBy: "installed key file /var/lib/outpost/msp.pub"})
	if !strings.Contains(out, "0123456789abcdef, pinned") || !strings.Contains(out, ": installed key file /var/lib/outpost/msp.pub") || strings.Contains(out, "msp-key-first-use") {
		t.Fatalf("installed key:\n%s", out)
	}
	out = render(ProvisioningView{PinnedKey: "0123456789abcdef", PinnedAt: at, PinnedBy: "trust on first use: bundle v1", FirstUse: true, Version: 1, Site: "Acme"})
	if !strings.Contains(out, `data-testid="msp-key-first-use"`) || !strings.Contains(out, "pinned by trust on first use") || !strings.Contains(out, "version 1 (site Acme)") {
		t.Fatalf("key pinned on first use:\n%s", out)
	}
}

// TestFirmwareCardShowsOutcomes: the settings page's firmware card names
// the highest version run, an update in its health window, and each
// recorded outcome with its reason and source, refusals and rollbacks
// marked.
func TestFirmwareCardShowsOutcomes(t *testing.T) {
	at := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	v := SettingsView{About: About{Version: "v2.0.0", Firmware: FirmwareView{Highest: "v2.0.0", Trial: "v1.0.0 -> v2.0.0, trial, start 1 of 3, health window 5m0s",
		Events: []FirmwareEvent{
			{Time: at, Result: "rolled back", From: "v2.0.0", To: "v1.0.0", Reason: "v2.0.0 not healthy within its 5m0s health window", Source: "phone home https://updates.example/outpost.bundle"},
			{Time: at, Result: "confirmed", From: "v1.0.0", To: "v2.0.0", Reason: "healthy 780ms after start 1 of 3"},
		}}}}
	if err := settingsView(v).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{`data-testid="firmware"`, "<dd>v2.0.0</dd>", `data-testid="firmware-trial">v1.0.0 -&gt; v2.0.0, trial`,
		`<span class="error">rolled back</span>`, "not healthy within its 5m0s health window", "<small>phone home https://updates.example/outpost.bundle</small>", "healthy 780ms after start 1 of 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("firmware card lacks %q", want)
		}
	}
	b.Reset()
	settingsView(SettingsView{About: About{Version: "v1.0.0"}}).Render(context.Background(), &b)
	if out := b.String(); strings.Contains(out, "firmware-events") || strings.Contains(out, "firmware-trial") || !strings.Contains(out, "<dt>Highest run</dt><dd>-</dd>") {
		t.Errorf("a box with no update history:\n%s", out)
	}
}
