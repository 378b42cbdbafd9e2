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
