// Package usb finds provisioning sticks: bundles on removable block
// devices (mounted read-only by the box itself, read, unmounted) and in
// directories where the OS automounts sticks. Each bundle found is
// applied once and a receipt is written back next to it.
package usb

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"outpost/checks/clock"
	"outpost/firmware/bundle"
	"outpost/firmware/provision"
)

// Options configure a Watcher.
type Options struct {
	// Roots are automount directories, scanned with two levels below.
	Roots []string
	// BlockDevices turns on the block-device watch.
	BlockDevices bool
	// ExtraDevices are device-name patterns treated as removable.
	ExtraDevices []string
	// Filesystems are tried in order when mounting (vfat, exfat).
	Filesystems []string
	// MountDir is the private directory devices are mounted under.
	MountDir string
	Interval time.Duration
	// Apply verifies and applies a bundle, returning its receipt.
	Apply func(ctx context.Context, data []byte, source string) (provision.Receipt, error)
	// Refuse records a bundle that could not be read, with the reason.
	Refuse func(source string, reason error) provision.Receipt
	// Firmware, when set, is given every firmware update bundle found
	// (bundle.FirmwareFileName next to where a provisioning bundle would
	// be), once per insertion, after the stick's provisioning bundle if it
	// has one; in a mount root, once it is unchanged at two looks in a
	// row. path is readable during the call only (a block device
	// stays mounted, read-only, until it returns).
	Firmware func(ctx context.Context, path, source string)
	Clock    clock.Clock
	Log      *slog.Logger
	// Where, when set, is asked before every look for the current
	// Roots, BlockDevices, ExtraDevices, Filesystems and Interval (the
	// other fields of its answer are ignored): a bundle that changes where
	// the box looks takes effect at once, and what was handled stays
	// handled.
	Where func() Options
	// SysBlock and Mountinfo are /sys/class/block and
	// /proc/self/mountinfo (tests point them elsewhere).
	SysBlock, Mountinfo string
}

// Watcher looks for sticks every Interval.
type Watcher struct {
	o Options
	// seen remembers what was handled, so a bundle is applied once per
	// insertion: files by path and content, devices by name and size.
	seenFiles   map[string][32]byte
	seenDevices map[string]string
	// seenFirmware: firmware bundles by path, size and time (they are
	// tens of MiB: not hashed at every look).
	seenFirmware map[string]string
	// settling: firmware bundles seen once, by the same key, waiting for
	// the next look.
	settling map[string]string
	// warned keeps one log line per device that cannot be mounted.
	warned map[string]bool
}

// New makes a Watcher.
func New(o Options) *Watcher {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	o.defaults()
	if o.SysBlock == "" {
		o.SysBlock = "/sys/class/block"
	}
	if o.Mountinfo == "" {
		o.Mountinfo = "/proc/self/mountinfo"
	}
	return &Watcher{o: o, seenFiles: map[string][32]byte{}, seenDevices: map[string]string{}, seenFirmware: map[string]string{}, settling: map[string]string{}, warned: map[string]bool{}}
}

func (o *Options) defaults() {
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if len(o.Filesystems) == 0 {
		o.Filesystems = []string{"vfat", "exfat"}
	}
}

// refresh takes the current places to look from Where.
func (w *Watcher) refresh() {
	if w.o.Where == nil {
		return
	}
	n := w.o.Where()
	w.o.Roots, w.o.BlockDevices, w.o.ExtraDevices, w.o.Filesystems, w.o.Interval = n.Roots, n.BlockDevices, n.ExtraDevices, n.Filesystems, n.Interval
	w.o.defaults()
}

// Run looks until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	t := w.o.Clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		w.Scan(ctx)
		t.Reset(w.o.Interval)
	}
}

// Scan looks once: the automount roots, then the block devices.
func (w *Watcher) Scan(ctx context.Context) {
	w.refresh()
	present := map[string]bool{}
	for _, root := range w.o.Roots {
		for _, dir := range candidateDirs(root) {
			p := filepath.Join(dir, bundle.FileName)
			if _, err := os.Lstat(p); err != nil {
				continue
			}
			present[p] = true
			w.tryFile(ctx, p)
		}
		for _, dir := range candidateDirs(root) {
			p := filepath.Join(dir, bundle.FirmwareFileName)
			if w.o.Firmware == nil {
				break
			}
			fi, err := os.Lstat(p)
			if err != nil {
				continue
			}
			present[p] = true
			key := fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
			if w.seenFirmware[p] == key {
				continue
			}
			// Handed over once it is the same at two looks in a row: a
			// file still being copied is not refused as truncated.
			if w.settling[p] != key {
				w.settling[p] = key
				continue
			}
			delete(w.settling, p)
			w.seenFirmware[p] = key
			w.o.Log.Info("firmware stick: update bundle found", "path", p)
			w.o.Firmware(ctx, p, p)
		}
	}
	for p := range w.seenFiles {
		if !present[p] {
			delete(w.seenFiles, p) // removed: a new insertion is handled again
		}
	}
	for p := range w.seenFirmware {
		if !present[p] {
			delete(w.seenFirmware, p)
		}
	}
	for p := range w.settling {
		if !present[p] {
			delete(w.settling, p)
		}
	}
	if w.o.BlockDevices {
		w.scanDevices(ctx)
	}
}

// candidateDirs are root and the directories one and two levels below.
func candidateDirs(root string) []string {
	out := []string{root}
	l1, _ := os.ReadDir(root)
	for _, e := range l1 {
		if !e.IsDir() {
			continue
		}
		d := filepath.Join(root, e.Name())
		out = append(out, d)
		l2, _ := os.ReadDir(d)
		for _, e2 := range l2 {
			if e2.IsDir() {
				out = append(out, filepath.Join(d, e2.Name()))
			}
		}
	}
	return out
}

// readBundle reads a bundle file defensively: a regular file (not a
// link), no bigger than the bundle limit.
func readBundle(p string) ([]byte, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s); refusing to follow it", p, fi.Mode().Type())
	}
	if fi.Size() > bundle.MaxFileSize {
		return nil, fmt.Errorf("%s is %d bytes; a bundle is at most %d", p, fi.Size(), bundle.MaxFileSize)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, bundle.MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > bundle.MaxFileSize {
		return nil, fmt.Errorf("%s grew past %d bytes while read", p, bundle.MaxFileSize)
	}
	return data, nil
}

func (w *Watcher) tryFile(ctx context.Context, p string) {
	data, err := readBundle(p)
	sum := sha256.Sum256(data)
	if prev, ok := w.seenFiles[p]; ok && prev == sum {
		return
	}
	w.seenFiles[p] = sum
	var rc provision.Receipt
	if err != nil {
		w.o.Log.Error("provisioning stick: bundle unreadable", "path", p, "err", err)
		rc = w.o.Refuse(p, err)
	} else {
		w.o.Log.Info("provisioning stick: bundle found", "path", p)
		rc, _ = w.o.Apply(ctx, data, p)
	}
	dir := filepath.Dir(p)
	rc, write := stickReceipt(readReceipt(dir, rc.BoxID), rc)
	if !write {
		w.o.Log.Info("provisioning stick: bundle already applied; its receipt is kept", "path", p, "applied_at", rc.Time)
		return
	}
	if err := WriteReceipt(dir, rc); err != nil {
		w.o.Log.Error("provisioning stick: receipt not written", "dir", dir, "err", err)
	}
}

// stickReceipt is the receipt to leave on a stick for rc, given the
// receipt the stick holds already (nil if none), and whether it must be
// written. The bundle in force seen again (the stick inserted a second
// time) is not applied again, but its stick keeps saying it was applied,
// and when: the receipt written then is kept when the stick still holds
// it (with its claim code, if it had one), otherwise one saying so is
// written.
func stickReceipt(onStick []byte, rc provision.Receipt) (provision.Receipt, bool) {
	applied, ok := rc.AlreadyApplied()
	if !ok {
		return rc, true
	}
	var old provision.Receipt
	if json.Unmarshal(onStick, &old) == nil && old.Result == provision.Applied && old.BoxID == rc.BoxID &&
		old.BundleVersion == rc.BundleVersion && old.Time.Equal(rc.AppliedAt) {
		return old, false
	}
	return applied, true
}

// readReceipt is the box's receipt in dir as the stick holds it, or nil.
func readReceipt(dir, boxID string) []byte {
	return readReceiptFile(filepath.Join(dir, ReceiptName(boxID)))
}

// readReceiptFile reads a receipt as defensively as a bundle (a regular
// file, not a link, bounded), or is nil.
func readReceiptFile(p string) []byte {
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxReceipt {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxReceipt+1))
	if err != nil || len(data) > maxReceipt {
		return nil
	}
	return data
}

// maxReceipt bounds a receipt read back from a stick (the box writes a
// few kilobytes), and maxReceipts how many a device's are read (one stick
// may have provisioned many boxes).
const (
	maxReceipt  = 64 << 10
	maxReceipts = 256
)

// ReceiptName is the receipt's file name for a box: one stick can carry
// an any-box bundle to several boxes, and each leaves its own receipt.
func ReceiptName(boxID string) string { return "outpost-receipt-" + boxID + ".json" }

// WriteReceipt writes rc into dir with WriteFileSynced, mode 0600 where
// the filesystem has modes (a FAT stick has none: everyone who holds the
// stick reads it, and a receipt carries no secret, only the box's public
// keys, its certificate's fingerprint and what became of the bundle).
func WriteReceipt(dir string, rc provision.Receipt) error {
	data, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	return WriteFileSynced(filepath.Join(dir, ReceiptName(rc.BoxID)), data, 0o600)
}

// WriteFileSynced writes data to dest through a temporary file in the
// same directory that is synced and renamed, then syncs the directory:
// a stick pulled out at any moment holds the old file or the new one,
// never half of one, and one pulled out right after holds all of it.
func WriteFileSynced(dest string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(dest)
	tmp, err := os.CreateTemp(dir, ".outpost-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// The temporary file is 0600 already; FAT and exFAT ignore modes.
	if perm != 0o600 {
		if err := os.Chmod(tmp.Name(), perm); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// A device the box may mount: a partition of a removable disk, or a
// removable disk without partitions.
type device struct {
	name string // sdb1
	dev  string // /dev/sdb1
	key  string // name and size: a new stick in the same slot differs
}

func (w *Watcher) devices() []device {
	entries, err := os.ReadDir(w.o.SysBlock)
	if err != nil {
		return nil
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	parentOf := func(name string) string {
		if _, err := os.Stat(filepath.Join(w.o.SysBlock, name, "partition")); err != nil {
			return ""
		}
		real, err := filepath.EvalSymlinks(filepath.Join(w.o.SysBlock, name))
		if err != nil {
			return ""
		}
		return filepath.Base(filepath.Dir(real))
	}
	hasParts := map[string]bool{}
	for n := range names {
		if p := parentOf(n); p != "" {
			hasParts[p] = true
		}
	}
	var out []device
	for n := range names {
		disk := n
		if p := parentOf(n); p != "" {
			disk = p
		} else if hasParts[n] {
			continue // the disk itself: its partitions are tried
		}
		if !w.removable(disk) && !w.extra(n) && !w.extra(disk) {
			continue
		}
		size, _ := os.ReadFile(filepath.Join(w.o.SysBlock, n, "size"))
		sz := strings.TrimSpace(string(size))
		if sz == "" || sz == "0" {
			continue // an empty card-reader slot
		}
		out = append(out, device{name: n, dev: "/dev/" + n, key: n + "/" + sz})
	}
	return out
}

func (w *Watcher) removable(disk string) bool {
	b, err := os.ReadFile(filepath.Join(w.o.SysBlock, disk, "removable"))
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

func (w *Watcher) extra(name string) bool {
	for _, p := range w.o.ExtraDevices {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// mounted lists the device sources in mountinfo: a stick the OS has
// mounted already is handled through the mount roots.
func (w *Watcher) mounted() map[string]bool {
	data, err := os.ReadFile(w.o.Mountinfo)
	out := map[string]bool{}
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.Index(line, " - "); i >= 0 {
			if f := strings.Fields(line[i+3:]); len(f) >= 2 {
				out[f[1]] = true
			}
		}
	}
	return out
}

func (w *Watcher) scanDevices(ctx context.Context) {
	devs := w.devices()
	present := map[string]bool{}
	var mounted map[string]bool
	if len(devs) > 0 {
		mounted = w.mounted() // only read when a stick is in
	}
	for _, d := range devs {
		present[d.name] = true
		if w.seenDevices[d.name] == d.key || mounted[d.dev] {
			continue
		}
		w.seenDevices[d.name] = d.key
		w.handleDevice(ctx, d)
	}
	for n := range w.seenDevices {
		if !present[n] {
			delete(w.seenDevices, n)
			delete(w.warned, n)
		}
	}
}

var errNoBundle = errors.New("no bundle")

func (w *Watcher) handleDevice(ctx context.Context, d device) {
	dir := filepath.Join(w.o.MountDir, d.name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		w.o.Log.Error("provisioning stick: mount directory", "dir", dir, "err", err)
		return
	}
	defer os.Remove(dir)
	var data []byte
	receipts := map[string][]byte{}
	firmware := ""
	fs, err := w.withMount(d, dir, true, func() error {
		p := filepath.Join(dir, bundle.FileName)
		if _, err := os.Lstat(p); err != nil {
			if fp := filepath.Join(dir, bundle.FirmwareFileName); w.o.Firmware != nil {
				if _, err := os.Lstat(fp); err == nil {
					firmware = fp
				}
			}
			return errNoBundle
		}
		var rerr error
		data, rerr = readBundle(p)
		// The receipts boxes left on it, in case the bundle is the one
		// in force (stickReceipt): this box's id is on its receipt.
		names, _ := filepath.Glob(filepath.Join(dir, ReceiptName("*")))
		for i, n := range names {
			if i == maxReceipts {
				break
			}
			receipts[filepath.Base(n)] = readReceiptFile(n)
		}
		return rerr
	})
	switch {
	case errors.Is(err, errNoBundle) && firmware != "":
		w.stickFirmware(ctx, d, dir)
		return
	case errors.Is(err, errNoBundle):
		w.o.Log.Info("removable device has no provisioning bundle", "device", d.dev, "fs", fs)
		return
	case fs == "": // no filesystem would mount
		if !w.warned[d.name] {
			w.warned[d.name] = true
			w.o.Log.Warn("removable device not mounted", "device", d.dev, "err", err)
		}
		return
	}
	// After the provisioning bundle, whatever became of it: the
	// firmware update on the same stick.
	defer w.stickFirmware(ctx, d, dir)
	source := d.dev + ":/" + bundle.FileName
	var rc provision.Receipt
	if err != nil {
		rc = w.o.Refuse(source, err)
	} else {
		w.o.Log.Info("provisioning stick: bundle found", "device", d.dev, "fs", fs)
		rc, _ = w.o.Apply(ctx, data, source)
	}
	rc, write := stickReceipt(receipts[ReceiptName(rc.BoxID)], rc)
	if !write {
		w.o.Log.Info("provisioning stick: bundle already applied; its receipt is kept; the stick can be removed", "device", d.dev, "applied_at", rc.Time)
		return
	}
	// The stick was unmounted while the bundle was applied (pulling it
	// out then is harmless); mounting it writable now only writes the
	// receipt.
	if _, err := w.withMount(d, dir, false, func() error { return WriteReceipt(dir, rc) }); err != nil {
		w.o.Log.Error("provisioning stick: receipt not written", "device", d.dev, "err", err)
		return
	}
	w.o.Log.Info("provisioning stick: receipt written; the stick can be removed", "device", d.dev, "result", rc.Result)
}

// stickFirmware hands a device's firmware bundle, if it has one, to
// Options.Firmware while the device is mounted read-only.
func (w *Watcher) stickFirmware(ctx context.Context, d device, dir string) {
	if w.o.Firmware == nil {
		return
	}
	_, err := w.withMount(d, dir, true, func() error {
		p := filepath.Join(dir, bundle.FirmwareFileName)
		if _, err := os.Lstat(p); err != nil {
			return errNoBundle
		}
		w.o.Log.Info("firmware stick: update bundle found", "device", d.dev)
		w.o.Firmware(ctx, p, d.dev+":/"+bundle.FirmwareFileName)
		return nil
	})
	if err != nil && !errors.Is(err, errNoBundle) {
		w.o.Log.Error("firmware stick: not mounted", "device", d.dev, "err", err)
	}
}

// errors from mount attempts with every filesystem, for one message.
type mountErrors []string

func (m mountErrors) Error() string { return "cannot mount: " + strings.Join(m, "; ") }
