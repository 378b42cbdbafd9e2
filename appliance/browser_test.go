package appliance_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"outpost/appliance"
	"outpost/checks/agent/wire"
	"outpost/firmware/bundle"
	"outpost/store"
)

// browser starts headless Debian chromium for a test.
func browser(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (make test installs it)")
		}
		t.Skip("chromium is not installed; `make test` installs it")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors", true), // the box's self-signed certificate
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	// The ceiling of the whole flow (chromium starting, every page and
	// every change the test waits to see): generous, as each step returns
	// as soon as the page shows what it waits for.
	ctx, cancelT := context.WithTimeout(ctx, 3*patience)
	return ctx, func() { cancelT(); cancelC(); cancelA() }
}

// screenshot saves the page at desktop and phone widths into
// testout/screenshots (and docs/screenshots when OUTPOST_DOC_SHOTS is set).
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dirs := []string{filepath.Join("..", "testout", "screenshots")}
	if os.Getenv("OUTPOST_DOC_SHOTS") != "" {
		dirs = append(dirs, filepath.Join("..", "docs", "screenshots"))
	}
	for _, size := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		var vopts []chromedp.EmulateViewportOption
		if size.mobile {
			vopts = append(vopts, chromedp.EmulateMobile, chromedp.EmulateScale(2))
		}
		if err := chromedp.Do(ctx,
			chromedp.EmulateViewport(size.w, size.h, vopts...),
			chromedp.Sleep(150*time.Millisecond),
		); err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		for _, d := range dirs {
			os.MkdirAll(d, 0o755)
			os.WriteFile(filepath.Join(d, name+"-"+size.suffix+".png"), buf, 0o644)
		}
	}
	chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900))
}

// TestBrowserFlow drives the real UI of a running daemon in chromium:
// first-boot admin (with the box's claim code), the dashboard changing when a target goes down
// (refreshed in place by the page's script), acknowledging the incident,
// logging out and in.
func TestBrowserFlow(t *testing.T) {
	var down atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down for the test", http.StatusBadGateway)
			return
		}
		io.WriteString(w, "welcome")
	}))
	defer target.Close()
	a, cfgPath := MustRun(t, "site: Acme Dental, 2nd floor closet\ndevices:\n  - {name: web01, class: server}\nagents:\n  - {name: web01, address: '127.0.0.1:9', services: [nginx]}\nchecks:\n  - {id: intranet, kind: http, target: '"+target.URL+"', interval: 1s, labels: {device: web01}}\n  - {id: disk-root, kind: disk, target: /, interval: 5s, labels: {device: outpost}}\n")
	seedAgentInventory(t, a)
	base := a.UIURL()
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("UI not on HTTPS by default: %s", base)
	}
	ctx, cancel := browser(t)
	defer cancel()

	// First boot: any page leads to account creation, which needs the
	// claim code the technician reads at the box (here: its file).
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="create-admin"]`)),
	); err != nil {
		t.Fatal(err)
	}
	heading := text(t, ctx, "h1")
	if heading != "Welcome to Outpost" {
		t.Fatalf("first page heading %q", heading)
	}
	codeFile := filepath.Join(filepath.Dir(cfgPath), "data", "claim-code")
	if hint := text(t, ctx, `[data-testid="claim-hint"]`); !strings.Contains(hint, "outpost claim-code") || !strings.Contains(hint, codeFile) {
		t.Fatalf("first page does not say where the claim code is: %q", hint)
	}
	claim, err := os.ReadFile(codeFile)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "setup")
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#claim"), strings.TrimSpace(string(claim))),
		chromedp.SetValue(chromedp.CSS("#password"), "weak"),
		chromedp.SetValue(chromedp.CSS("#confirm"), "weak"),
		chromedp.Click(chromedp.CSS(`[data-testid="create-admin"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="form-error"]`)),
	); err != nil {
		t.Fatal(err)
	}
	formErr := text(t, ctx, `[data-testid="form-error"]`)
	if !strings.Contains(formErr, "at least 12 characters") {
		t.Fatalf("weak password message %q", formErr)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#password"), "Molar-Crown-2026"),
		chromedp.SetValue(chromedp.CSS("#confirm"), "Molar-Crown-2026"),
		chromedp.Click(chromedp.CSS(`[data-testid="create-admin"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="counts"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="all-ok"]`)),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "dashboard-ok")

	// The target goes down: the open dashboard changes by itself.
	down.Store(true)
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="failing-intranet"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="open-incidents"]`)),
	); err != nil {
		t.Fatal(err)
	}
	failing := text(t, ctx, `[data-testid="failing-intranet"]`)
	if !strings.Contains(failing, "502") {
		t.Fatalf("failing row %q", failing)
	}
	screenshot(t, ctx, "dashboard-incident")

	// Acknowledge the incident from its page.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/incidents"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="incidents"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="incidents"] tbody tr a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="ack"]`)),
		chromedp.SetValue(chromedp.CSS("#note"), "Looking at web01 now"),
		chromedp.Click(chromedp.CSS(`[data-testid="ack"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="msg"]`)),
	); err != nil {
		t.Fatal(err)
	}
	state := text(t, ctx, `[data-testid="state"]`)
	if !strings.HasPrefix(strings.TrimSpace(state), "acknowledged") {
		t.Fatalf("state after ack %q", state)
	}
	screenshot(t, ctx, "incident")

	// Add a check with a mistake, read the error, fix it.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/checks"),
		chromedp.Click(chromedp.CSS(`[data-testid="add-check"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="save-check"]`)),
		chromedp.SetValue(chromedp.CSS("#id"), "front-desk-pc"),
		chromedp.SetValue(chromedp.CSS("#kind"), "tcp"),
		chromedp.SetValue(chromedp.CSS("#target"), "127.0.0.1:9"),
		chromedp.SetValue(chromedp.CSS("#interval"), "5x"),
		chromedp.Click(chromedp.CSS(`[data-testid="save-check"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="form-errors"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if msg := text(t, ctx, `[data-testid="form-errors"]`); !strings.Contains(msg, `checks[2].interval: "5x" is not a duration (e.g. 30s, 5m, 2h, 7d)`) {
		t.Fatalf("form error %q", msg)
	}
	screenshot(t, ctx, "check-form-error")
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#interval"), "30s"),
		chromedp.Click(chromedp.CSS(`[data-testid="save-check"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="check-id"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if id := text(t, ctx, `[data-testid="check-id"]`); id != "front-desk-pc" {
		t.Fatalf("after save: %q", id)
	}
	if cv, _, _ := a.Store().CurrentConfig(); !strings.HasPrefix(cv.Source, "web UI by admin") || !strings.Contains(string(cv.Raw), "front-desk-pc") {
		t.Fatalf("config version after UI edit: %+v", cv)
	}
	provisionForScreens(t, a)
	for _, page := range []struct{ path, wait, name string }{
		{"/checks", `[data-testid="checks"]`, "checks"},
		{"/checks/intranet", `[data-testid="recent"]`, "check"},
		{"/devices", `[data-testid="devices"]`, "devices"},
		{"/devices/web01", `[data-testid="inventory"]`, "device"},
		{"/notifications", `[data-testid="channels"]`, "notifications"},
		{"/settings", `[data-testid="fingerprint"]`, "settings"},
	} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+page.path), chromedp.WaitVisible(chromedp.CSS(page.wait))); err != nil {
			t.Fatalf("%s: %v", page.path, err)
		}
		screenshot(t, ctx, page.name)
	}
	fp := text(t, ctx, `[data-testid="fingerprint"]`)
	if fp != a.CertFingerprint() || len(fp) != 95 {
		t.Fatalf("fingerprint shown %q, box has %q", fp, a.CertFingerprint())
	}
	// The provisioning section: the box id, the applied bundle and the
	// last (refused) one with its reason.
	if id := text(t, ctx, `[data-testid="box-id"]`); id != a.Identity().ID() {
		t.Fatalf("box id shown %q, box is %q", id, a.Identity().ID())
	}
	if k := text(t, ctx, `[data-testid="msp-key"]`); !strings.Contains(k, "outpost bundle trust at the box") {
		t.Fatalf("trusted MSP key shown as %q", k)
	}
	if v := text(t, ctx, `[data-testid="bundle-version"]`); !strings.Contains(v, "version 41 (site Acme Dental, 2nd floor closet)") {
		t.Fatalf("applied bundle shown as %q", v)
	}
	if last := text(t, ctx, `[data-testid="bundle-last"]`); !strings.Contains(last, "refused: version 41 from browser test") || !strings.Contains(last, "not newer than the applied version 41") {
		t.Fatalf("last bundle shown as %q", last)
	}

	// Log out (everywhere), then log in again.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form.logout button`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login"]`)),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "login")
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#user"), "admin"),
		chromedp.SetValue(chromedp.CSS("#password"), "Molar-Crown-2026"),
		chromedp.Click(chromedp.CSS(`[data-testid="login"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="counts"]`)),
	); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// seedAgentInventory records web01's agent as paired, with an inventory
// as a Linux agent sends it, so the device page shows it (collection
// itself is tested end to end with real agent processes).
func seedAgentInventory(t *testing.T, a *appliance.Appliance) {
	t.Helper()
	now := time.Now()
	if err := a.Store().PutAgent(store.AgentRecord{Name: "web01", CertFingerprint: "sha256:00", Address: "127.0.0.1:9", Hostname: "web01", OS: "linux", PairedAt: now.Add(-72 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	inv := wire.Inventory{Collected: now.Add(-2 * time.Hour), Hostname: "web01", OS: wire.OSInfo{Name: "Debian GNU/Linux", Version: "12 (bookworm)"},
		CPU: "Intel(R) Xeon(R) E-2314 CPU @ 2.80GHz", Cores: 4, RAM: 16 << 30, Serial: "CZ2049XYZ", BootTime: now.Add(-9 * 24 * time.Hour),
		Apps:    []wire.App{{Name: "nginx", Version: "1.22.1-9"}, {Name: "openssh-server", Version: "1:9.2p1-2+deb12u3"}, {Name: "postgresql-15", Version: "15.8-0+deb12u1"}},
		Patches: []wire.Patch{{ID: "openssl", Pending: true}, {ID: "linux-image-amd64", Pending: true}}}
	data, _ := json.Marshal(inv)
	if err := a.Store().PutAgentInventory(store.AgentInventory{Name: "web01", Collected: inv.Collected, Data: data}); err != nil {
		t.Fatal(err)
	}
}

// provisionForScreens applies a bundle carrying the config already in
// force (so the rest of the test sees no change), then replays it, so the
// settings page has an applied bundle and a refused one to show.
func provisionForScreens(t *testing.T, a *appliance.Appliance) {
	t.Helper()
	cv, _, err := a.Store().CurrentConfig()
	if err != nil {
		t.Fatal(err)
	}
	_, msp, _ := ed25519.GenerateKey(nil)
	now := time.Now()
	data, err := bundle.Make(msp, bundle.Manifest{Version: 41, Created: now, Expires: now.Add(time.Hour), Target: bundle.AnyBox,
		Site: "Acme Dental, 2nd floor closet", Config: string(cv.Raw)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Provisioner().Trust(msp.Public().(ed25519.PublicKey), false, "outpost bundle trust at the box"); err != nil {
		t.Fatal(err)
	}
	if rc, err := a.Provisioner().ApplyBundle(context.Background(), data, "browser test"); err != nil {
		t.Fatalf("bundle: %+v %v", rc, err)
	}
	if _, err := a.Provisioner().ApplyBundle(context.Background(), data, "browser test"); err == nil {
		t.Fatal("a replayed bundle was applied")
	}
}
