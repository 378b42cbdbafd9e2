package update

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"outpost/firmware/bundle"
)

func TestCheckRules(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	now := time.Now()
	fw := func(v, min string) *bundle.Firmware {
		return &bundle.Firmware{Key: pub, FirmwareManifest: bundle.FirmwareManifest{Version: v, MinVersion: min, OS: runtime.GOOS, Arch: runtime.GOARCH, Created: now.Add(-time.Hour), Expires: now.Add(time.Hour)}}
	}
	base := Rules{Trusted: pub, Highest: "v1.2.0", Running: "v1.2.0", Now: now}
	for _, c := range []struct {
		name string
		f    *bundle.Firmware
		r    func(Rules) Rules
		want string
	}{
		{"ok", fw("v1.3.0", "v1.2.0"), nil, ""},
		{"no key", fw("v1.3.0", ""), func(r Rules) Rules { r.Trusted = nil; return r }, "trusts no MSP key"},
		{"wrong key", fw("v1.3.0", ""), func(r Rules) Rules { r.Trusted = other; return r }, "not by the MSP key this box trusts"},
		{"expired", fw("v1.3.0", ""), func(r Rules) Rules { r.Now = now.Add(2 * time.Hour); return r }, "expired"},
		{"downgrade", fw("v1.1.0", ""), nil, "downgrade"},
		{"downgrade forced", fw("v1.1.0", ""), func(r Rules) Rules { r.Force = true; return r }, ""},
		{"below highest run", fw("v1.3.0", ""), func(r Rules) Rules { r.Highest = "v1.4.0"; return r }, "downgrade: this box has run v1.4.0"},
		{"same again", fw("v1.2.0", ""), nil, "already"},
		{"min not met", fw("v1.5.0", "v1.3.0"), nil, "needs at least v1.3.0"},
		{"dev box", fw("v1.5.0", "v1.3.0"), func(r Rules) Rules { r.Running, r.Highest = "dev", ""; return r }, "not a release version"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := base
			if c.r != nil {
				r = c.r(r)
			}
			err := Check(c.f, r)
			if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	f := fw("v1.3.0", "")
	f.Arch = "sparc"
	if err := Check(f, base); err == nil || !strings.Contains(err.Error(), "/sparc") {
		t.Fatalf("other arch: %v", err)
	}
}

// bootBox is an install directory where the test binary itself plays the
// new binary (Boot judges by the running binary's hash).
func bootBox(t *testing.T, state string, boots, max int) (*Updater, *Pending) {
	t.Helper()
	me, err := selfSHA256()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin, prev := filepath.Join(dir, "outpost"), filepath.Join(dir, "outpost.prev")
	os.WriteFile(bin, []byte("new"), 0o755)
	os.WriteFile(prev, []byte("old"), 0o755)
	oldSum, _ := fileSHA256(prev)
	u := New(Options{DataDir: filepath.Join(dir, "data"), Version: "v2.0.0"})
	p := &Pending{Format: markerFormat, State: state, From: "v1.0.0", To: "v2.0.0", FromSHA256: oldSum, ToSHA256: me, Binary: bin, Prev: prev, Window: time.Second, MaxBoots: max, Boots: boots}
	if err := u.write(p); err != nil {
		t.Fatal(err)
	}
	return u, p
}

func TestBootCountsStartsThenRollsBack(t *testing.T) {
	u, p := bootBox(t, Swapping, 0, 2)
	for i := 1; i <= 2; i++ {
		q, err := u.Boot()
		if err != nil || q == nil || q.State != Trial || q.Boots != i {
			t.Fatalf("start %d: %+v %v", i, q, err)
		}
	}
	q, err := u.Boot()
	if !errors.Is(err, ErrRestart) || q != nil {
		t.Fatalf("third start: %+v %v", q, err)
	}
	if data, _ := os.ReadFile(p.Binary); string(data) != "old" {
		t.Fatalf("installed binary is %q after rollback", data)
	}
	q, err = u.Pending()
	if err != nil || q.State != Done || q.Result != RolledBack || !strings.Contains(q.Reason, "did not come up healthy in 2 starts") {
		t.Fatalf("marker after rollback: %+v %v", q, err)
	}
}

func TestBootOfTheOldBinary(t *testing.T) {
	// The test binary is not the new one here: the rename never happened.
	u, p := bootBox(t, Swapping, 0, 3)
	p.ToSHA256 = strings.Repeat("0", 64)
	u.write(p)
	q, err := u.Boot()
	if err != nil || q.State != Done || q.Result != Interrupted {
		t.Fatalf("interrupted: %+v %v", q, err)
	}
	// An unreadable marker is set aside; the box starts as installed.
	os.WriteFile(u.path(), []byte("{garbage"), 0o600)
	if q, err := u.Boot(); q != nil || err != nil {
		t.Fatalf("garbage marker: %+v %v", q, err)
	}
	if _, err := os.Stat(u.path() + ".bad"); err != nil {
		t.Fatal(err)
	}
}

func TestWatch(t *testing.T) {
	p := &Pending{To: "v2.0.0", Window: 300 * time.Millisecond}
	n := 0
	if err := Watch(t.Context(), p, 10*time.Millisecond, func() (bool, string) { n++; return n > 3, "not yet" }); err != nil {
		t.Fatal(err)
	}
	err := Watch(t.Context(), p, 10*time.Millisecond, func() (bool, string) { return false, "store closed" })
	if err == nil || !strings.Contains(err.Error(), "not healthy within its 300ms health window: store closed") {
		t.Fatal(err)
	}
}
