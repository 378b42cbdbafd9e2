package usb_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/firmware/bundle"
	"outpost/firmware/identity"
	"outpost/firmware/provision"
	"outpost/firmware/usb"
	"outpost/store"
)

type box struct {
	id      *identity.Identity
	p       *provision.Provisioner
	applied []string
	msp     ed25519.PrivateKey
}

func newBox(t *testing.T) *box {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "outpost.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &box{}
	if b.id, err = identity.Load(st); err != nil {
		t.Fatal(err)
	}
	_, b.msp, _ = ed25519.GenerateKey(nil)
	b.p = provision.New(provision.Options{Store: st, Identity: b.id, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Activate: func(name string, raw []byte, source string) error {
			c, err := config.Parse(name, raw)
			if err != nil {
				return err
			}
			b.applied = append(b.applied, c.Site)
			return nil
		}})
	if _, err := b.p.Trust(b.msp.Public().(ed25519.PublicKey), false, "test"); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *box) bundle(t *testing.T, version uint64, site string) []byte {
	t.Helper()
	now := time.Now()
	// One site for the bundles (an any-box bundle for another site is
	// refused); the config's name tells them apart.
	data, err := bundle.Make(b.msp, bundle.Manifest{Version: version, Created: now, Expires: now.Add(time.Hour), Target: bundle.AnyBox, Site: "Acme",
		Config: "site: " + site + "\nchecks: []\n"})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (b *box) watcher(o usb.Options) *usb.Watcher {
	o.Apply, o.Refuse = b.p.ApplyBundle, b.p.Refuse
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	return usb.New(o)
}

func receipt(t *testing.T, dir, boxID string) provision.Receipt {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, usb.ReceiptName(boxID)))
	if err != nil {
		t.Fatalf("no receipt: %v", err)
	}
	var rc provision.Receipt
	if err := json.Unmarshal(data, &rc); err != nil {
		t.Fatal(err)
	}
	return rc
}

// TestMountRootStick: a stick the OS automounted under a watched root is
// applied once per insertion, with a receipt next to the bundle.
func TestMountRootStick(t *testing.T) {
	b := newBox(t)
	root := t.TempDir()
	stick := filepath.Join(root, "admin", "OUTPOST")
	os.MkdirAll(stick, 0o755)
	w := b.watcher(usb.Options{Roots: []string{root}})
	ctx := context.Background()

	w.Scan(ctx) // nothing there yet
	if err := os.WriteFile(filepath.Join(stick, bundle.FileName), b.bundle(t, 3, "Acme"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Scan(ctx)
	w.Scan(ctx) // still inserted: not applied again
	rc := receipt(t, stick, b.id.ID())
	if raw, _ := os.ReadFile(filepath.Join(stick, usb.ReceiptName(b.id.ID()))); !strings.Contains(string(raw), `"reasons": []`) {
		t.Fatalf("an applied receipt lists its (empty) reasons too:\n%s", raw)
	}
	if rc.Result != provision.Applied || rc.BundleVersion != 3 || rc.BoxPublicKey != b.id.PublicKeyString() || len(b.applied) != 1 {
		t.Fatalf("receipt %+v, applied %v", rc, b.applied)
	}
	if entries, _ := os.ReadDir(stick); len(entries) != 2 {
		t.Fatalf("stick holds %d files (a temporary receipt left behind?)", len(entries))
	}
	if fi, _ := os.Stat(filepath.Join(stick, usb.ReceiptName(b.id.ID()))); fi.Mode().Perm() != 0o600 {
		t.Fatalf("receipt mode %v", fi.Mode())
	}

	// Pulled out, a newer bundle put on, inserted again.
	os.Remove(filepath.Join(stick, bundle.FileName))
	w.Scan(ctx)
	os.WriteFile(filepath.Join(stick, bundle.FileName), b.bundle(t, 4, "Acme II"), 0o644)
	w.Scan(ctx)
	if rc := receipt(t, stick, b.id.ID()); rc.Result != provision.Applied || rc.BundleVersion != 4 || len(b.applied) != 2 || b.applied[1] != "Acme II" {
		t.Fatalf("second insertion: %+v %v", rc, b.applied)
	}

	// A directory link on the stick leading elsewhere is not followed.
	elsewhere := t.TempDir()
	os.WriteFile(filepath.Join(elsewhere, bundle.FileName), b.bundle(t, 50, "Escaped"), 0o644)
	os.Symlink(elsewhere, filepath.Join(root, "escape"))
	os.Symlink("../../..", filepath.Join(stick, "up"))
	w.Scan(ctx)
	if len(b.applied) != 2 {
		t.Fatalf("a bundle behind a directory link was applied: %v", b.applied)
	}

	// A link in place of the bundle is not followed; a huge file is not read.
	os.Remove(filepath.Join(stick, bundle.FileName))
	w.Scan(ctx)
	outside := filepath.Join(t.TempDir(), "elsewhere.bundle")
	os.WriteFile(outside, b.bundle(t, 5, "Linked"), 0o644)
	os.Symlink(outside, filepath.Join(stick, bundle.FileName))
	w.Scan(ctx)
	if rc := receipt(t, stick, b.id.ID()); rc.Result != provision.Refused || !strings.Contains(strings.Join(rc.Reasons, ";"), "not a regular file") {
		t.Fatalf("symlinked bundle: %+v", rc)
	}
	os.Remove(filepath.Join(stick, bundle.FileName))
	w.Scan(ctx)
	f, _ := os.Create(filepath.Join(stick, bundle.FileName))
	f.Truncate(bundle.MaxFileSize + 1)
	f.Close()
	w.Scan(ctx)
	if rc := receipt(t, stick, b.id.ID()); rc.Result != provision.Refused || !strings.Contains(strings.Join(rc.Reasons, ";"), "a bundle is at most") || len(b.applied) != 2 {
		t.Fatalf("oversized bundle: %+v", rc)
	}
	// The box records that reason too (settings page, bundle status), and
	// the pin and version stay.
	if st, _ := b.p.State(); st.Last == nil || len(st.Last.Reasons) != 1 || !strings.Contains(st.Last.Reasons[0], "a bundle is at most") || st.Version != 4 {
		t.Fatalf("recorded state after the oversized bundle: %+v", st)
	}
}

// TestWhereFollowsTheConfig: the places to look change with the config in
// force (a bundle may set them), and a stick already handled is not
// applied again because of it.
func TestWhereFollowsTheConfig(t *testing.T) {
	b := newBox(t)
	first, second := t.TempDir(), t.TempDir()
	roots := []string{first}
	w := b.watcher(usb.Options{Where: func() usb.Options { return usb.Options{Roots: roots} }})
	ctx := context.Background()
	os.WriteFile(filepath.Join(first, bundle.FileName), b.bundle(t, 1, "First"), 0o644)
	os.WriteFile(filepath.Join(second, bundle.FileName), b.bundle(t, 2, "Second"), 0o644)
	w.Scan(ctx)
	if len(b.applied) != 1 || b.applied[0] != "First" {
		t.Fatalf("applied %v, want the first root's bundle only", b.applied)
	}
	roots = []string{first, second} // the applied config adds a root
	w.Scan(ctx)
	w.Scan(ctx)
	if len(b.applied) != 2 || b.applied[1] != "Second" {
		t.Fatalf("applied %v, want the second root's bundle once and the first not again", b.applied)
	}
	if rc := receipt(t, first, b.id.ID()); rc.Result != provision.Applied || rc.BundleVersion != 1 {
		t.Fatalf("the first stick's receipt was overwritten: %+v", rc)
	}
}

// loopStick is a 16 MiB image with a file system (vfat, else ext2 where
// the kernel has no vfat) attached as a loop device: its device and the
// file system's type.
func loopStick(t *testing.T) (dev, fs string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to attach loop devices and mount them")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("no loop devices on this machine (/dev/loop-control missing)")
	}
	fs = "vfat"
	mkfs := "mkfs.vfat"
	procfs, _ := os.ReadFile("/proc/filesystems")
	if !strings.Contains(string(procfs), "\tvfat\n") {
		// This kernel cannot mount vfat (no module): the same path is
		// exercised with ext2, which the watcher only tries when told.
		t.Logf("this kernel has no vfat; using an ext2 image instead")
		fs, mkfs = "ext2", "mkfs.ext2"
		if !strings.Contains(string(procfs), "\text2\n") && !strings.Contains(string(procfs), "\text4\n") {
			t.Skip("this kernel mounts neither vfat nor ext2")
		}
	}
	if _, err := exec.LookPath(mkfs); err != nil {
		if os.Getenv("CI") != "" && fs == "vfat" {
			t.Fatalf("%s is not installed (make test installs dosfstools)", mkfs)
		}
		t.Skipf("%s is not installed", mkfs)
	}
	img := filepath.Join(t.TempDir(), "stick.img")
	f, _ := os.Create(img)
	f.Truncate(16 << 20)
	f.Close()
	if out, err := exec.Command(mkfs, img).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", mkfs, err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("cannot attach a loop device here: %v %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev, fs
}

// writeStick puts files on the loop device dev as a technician's PC
// would: mounted, written, unmounted.
func writeStick(t *testing.T, dev, fs string, files map[string][]byte) {
	t.Helper()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", fs, dev, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount the image here: %v %s", err, out)
	}
	for name, data := range files {
		os.WriteFile(filepath.Join(mnt, name), data, 0o644)
	}
	if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
}

// TestLoopDeviceStick attaches a real filesystem image as a loop device:
// the watcher finds it in sysfs, mounts it read-only, applies the bundle,
// and writes the receipt back onto the image.
func TestLoopDeviceStick(t *testing.T) {
	dev, fs := loopStick(t)
	b := newBox(t)
	// Put the bundle on the "stick" the way a technician's PC would.
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", fs, dev, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount the image here: %v %s", err, out)
	}
	os.WriteFile(filepath.Join(mnt, bundle.FileName), b.bundle(t, 9, "Loop Site"), 0o644)
	if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}

	name := filepath.Base(dev)
	w := b.watcher(usb.Options{BlockDevices: true, ExtraDevices: []string{name}, Filesystems: []string{"vfat", "exfat", fs}, MountDir: t.TempDir()})
	w.Scan(context.Background())
	if len(b.applied) != 1 || b.applied[0] != "Loop Site" {
		t.Fatalf("bundle on %s not applied: %v", dev, b.applied)
	}
	// The watcher unmounted it: mountinfo no longer lists it.
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), dev+" ") {
		t.Fatalf("%s still mounted after the scan", dev)
	}
	if out, err := exec.Command("mount", "-t", fs, "-o", "ro", dev, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount to read the receipt: %v %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	rc := receipt(t, mnt, b.id.ID())
	if rc.Result != provision.Applied || rc.BundleVersion != 9 || rc.Source != dev+":/"+bundle.FileName {
		t.Fatalf("receipt on the stick: %+v", rc)
	}
	w.Scan(context.Background())
	if len(b.applied) != 1 {
		t.Fatal("the same insertion was applied twice")
	}
}

// TestReinsertedStickKeepsSayingApplied: a stick whose bundle was applied,
// pulled out and inserted again, is not applied a second time, and its
// receipt keeps saying applied, and when: the receipt written then is
// kept; one that was removed is written again with the original time and
// "already applied on". A different bundle, older or of the same version,
// is still refused.
func TestReinsertedStickKeepsSayingApplied(t *testing.T) {
	b := newBox(t)
	root := t.TempDir()
	stick := filepath.Join(root, "OUTPOST")
	os.MkdirAll(stick, 0o755)
	w := b.watcher(usb.Options{Roots: []string{root}})
	ctx := context.Background()
	bundleFile, receiptFile := filepath.Join(stick, bundle.FileName), filepath.Join(stick, usb.ReceiptName(b.id.ID()))
	applied := b.bundle(t, 3, "Acme")
	reinsert := func(data []byte) {
		t.Helper()
		os.Remove(bundleFile)
		w.Scan(ctx) // pulled out
		if err := os.WriteFile(bundleFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
		w.Scan(ctx)
	}
	reinsert(applied)
	first := receipt(t, stick, b.id.ID())
	firstRaw, _ := os.ReadFile(receiptFile)
	if first.Result != provision.Applied || first.BundleVersion != 3 || len(b.applied) != 1 {
		t.Fatalf("first insertion: %+v, applied %v", first, b.applied)
	}

	reinsert(applied)
	if raw, _ := os.ReadFile(receiptFile); string(raw) != string(firstRaw) || len(b.applied) != 1 {
		t.Fatalf("inserted again: the receipt changed (or the bundle was applied again: %v):\n%s\nwas:\n%s", b.applied, raw, firstRaw)
	}

	// The receipt lost (copied off, deleted): written again, as applied.
	os.Remove(receiptFile)
	reinsert(applied)
	again := receipt(t, stick, b.id.ID())
	want := "already applied on " + first.Time.UTC().Format(time.RFC3339)
	if again.Result != provision.Applied || !again.Time.Equal(first.Time) || again.BundleVersion != 3 || again.AppliedVersion != 3 ||
		len(again.Reasons) != 0 || len(again.Notes) != 1 || !strings.HasPrefix(again.Notes[0], want) || len(b.applied) != 1 {
		t.Fatalf("receipt rewritten for the applied bundle: %+v, want applied at %s saying %q", again, first.Time, want)
	}

	// Other bundles stay refused: older, and the same version re-made.
	reinsert(b.bundle(t, 2, "Acme old"))
	if rc := receipt(t, stick, b.id.ID()); rc.Result != provision.Refused || !strings.Contains(strings.Join(rc.Reasons, ";"), "version 2 is not newer than the applied version 3 (a replayed or older bundle)") {
		t.Fatalf("older bundle: %+v", rc)
	}
	reinsert(b.bundle(t, 3, "Acme other"))
	if rc := receipt(t, stick, b.id.ID()); rc.Result != provision.Refused || !rc.AppliedAt.IsZero() || !strings.Contains(strings.Join(rc.Reasons, ";"), "version 3 is not newer than the applied version 3 (a replayed or older bundle)") {
		t.Fatalf("another bundle with the applied version: %+v", rc)
	}
	// The refused receipt on the stick now: the applied bundle put back
	// gets an applied one again.
	reinsert(applied)
	if rc := receipt(t, stick, b.id.ID()); rc.Result != provision.Applied || !rc.Time.Equal(first.Time) || len(b.applied) != 1 {
		t.Fatalf("the applied bundle after a refused one: %+v", rc)
	}
}

// firmwareSeen records what Options.Firmware was given, reading the file
// during the call (it must be readable then, and only then for a device).
type firmwareSeen struct{ calls []string }

func (f *firmwareSeen) hook(ctx context.Context, path, source string) {
	data, err := os.ReadFile(path)
	f.calls = append(f.calls, source+" "+string(data)+" "+fmt.Sprint(err))
}

// TestFirmwareOnAStick: a firmware update bundle found where provisioning
// bundles are looked for is handed over once per insertion, readable
// during the call: in a mount root (again when it is replaced or
// re-inserted), and on a block device, alone or after the stick's
// provisioning bundle.
func TestFirmwareOnAStick(t *testing.T) {
	b := newBox(t)
	root := t.TempDir()
	stick := filepath.Join(root, "STICK")
	os.MkdirAll(stick, 0o755)
	var seen firmwareSeen
	w := b.watcher(usb.Options{Roots: []string{root}, Firmware: seen.hook})
	fw := filepath.Join(stick, bundle.FirmwareFileName)
	// Being copied: not handed over while it changes between looks.
	os.WriteFile(fw, []byte("v"), 0o644)
	w.Scan(context.Background())
	os.WriteFile(fw, []byte("v2"), 0o644)
	w.Scan(context.Background())
	if len(seen.calls) != 0 {
		t.Fatalf("handed over while still changing: %q", seen.calls)
	}
	w.Scan(context.Background())
	w.Scan(context.Background())
	if len(seen.calls) != 1 || seen.calls[0] != fw+" v2 <nil>" {
		t.Fatalf("mount root: %q", seen.calls)
	}
	os.Remove(fw)
	w.Scan(context.Background())
	os.WriteFile(fw, []byte("v2"), 0o644)
	w.Scan(context.Background())
	w.Scan(context.Background())
	if len(seen.calls) != 2 {
		t.Fatalf("re-inserted: %q", seen.calls)
	}
	if len(b.applied) != 0 {
		t.Fatalf("a firmware stick applied a config: %v", b.applied)
	}

	dev, fs := loopStick(t)
	writeStick(t, dev, fs, map[string][]byte{bundle.FirmwareFileName: []byte("v3")})
	seen.calls = nil
	name := filepath.Base(dev)
	w = b.watcher(usb.Options{BlockDevices: true, ExtraDevices: []string{name}, Filesystems: []string{"vfat", "exfat", fs}, MountDir: t.TempDir(), Firmware: seen.hook})
	w.Scan(context.Background())
	w.Scan(context.Background())
	if len(seen.calls) != 1 || seen.calls[0] != dev+":/"+bundle.FirmwareFileName+" v3 <nil>" {
		t.Fatalf("block device: %q", seen.calls)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), dev+" ") {
		t.Fatalf("%s still mounted after the scan", dev)
	}

	// Both on one stick: the config first, then the firmware.
	dev2, fs2 := loopStick(t)
	writeStick(t, dev2, fs2, map[string][]byte{bundle.FileName: b.bundle(t, 4, "Both Site"), bundle.FirmwareFileName: []byte("v4")})
	seen.calls = nil
	w = b.watcher(usb.Options{BlockDevices: true, ExtraDevices: []string{filepath.Base(dev2)}, Filesystems: []string{"vfat", "exfat", fs2}, MountDir: t.TempDir(),
		Firmware: func(ctx context.Context, path, source string) {
			if len(b.applied) == 0 {
				t.Error("firmware handed over before the stick's config was applied")
			}
			seen.hook(ctx, path, source)
		}})
	w.Scan(context.Background())
	if len(b.applied) != 1 || b.applied[0] != "Both Site" || len(seen.calls) != 1 || !strings.HasSuffix(seen.calls[0], " v4 <nil>") {
		t.Fatalf("both: applied %v, firmware %q", b.applied, seen.calls)
	}
}
