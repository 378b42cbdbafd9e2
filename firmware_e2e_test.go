//go:build linux

package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"outpost/firmware/bundle"
)

// The firmware tests build two real versions of the binary (with the
// firmwaretest tag: pause and fault hooks driven by the test's
// environment), install the older one in a temporary directory, run it
// under a small supervisor that restarts it on failure as systemd's
// Restart=on-failure does, and update it through `outpost firmware apply`
// as a technician at the box would.

const (
	fwOld = "v1.0.0"
	fwNew = "v2.0.0"
)

var (
	fwBuildOnce sync.Once
	fwBins      map[string]string
	fwBuildErr  error
	fwBuildDir  string
)

// firmwareBinaries builds fwOld and fwNew (once per test run).
func firmwareBinaries(t *testing.T) map[string]string {
	t.Helper()
	fwBuildOnce.Do(func() {
		fwBuildDir, fwBuildErr = os.MkdirTemp("", "outpost-fw-")
		if fwBuildErr != nil {
			return
		}
		fwBins = map[string]string{}
		for _, v := range []string{fwOld, fwNew} {
			out := filepath.Join(fwBuildDir, "outpost-"+v)
			cmd := exec.Command("go", "build", "-tags", "firmwaretest", "-ldflags", "-X outpost/appliance.Version="+v, "-o", out, ".")
			if b, err := cmd.CombinedOutput(); err != nil {
				fwBuildErr = fmt.Errorf("building %s: %v\n%s", v, err, b)
				return
			}
			fwBins[v] = out
		}
	})
	if fwBuildErr != nil {
		t.Fatal(fwBuildErr)
	}
	return fwBins
}

// fwBox is one box: an install directory, a data directory trusting an
// MSP key, and the supervisor running the installed binary.
type fwBox struct {
	t       *testing.T
	dir     string
	bin     string // the installed binary
	data    string
	keys    string // msp.key, msp.pub
	sup     *supervisor
	bundles string
	// sticks is the box's one automount root: a directory put in it is
	// a stick inserted.
	sticks string
}

func newFirmwareBox(t *testing.T, env ...string) *fwBox {
	t.Helper()
	return newFirmwareBoxWith(t, "", env...)
}

// newFirmwareBoxWith is newFirmwareBox with more config (YAML lines).
func newFirmwareBoxWith(t *testing.T, extra string, env ...string) *fwBox {
	t.Helper()
	bins := firmwareBinaries(t)
	root := t.TempDir()
	b := &fwBox{t: t, dir: filepath.Join(root, "opt"), data: filepath.Join(root, "data"), keys: filepath.Join(root, "keys"), bundles: filepath.Join(root, "bundles"), sticks: filepath.Join(root, "media")}
	b.bin = filepath.Join(b.dir, "outpost")
	for _, d := range []string{b.dir, b.bundles, b.sticks} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyBinary(t, bins[fwOld], b.bin)
	mustOutpost(t, "bundle", "keygen", "--out", b.keys)
	mustOutpost(t, "bundle", "trust", filepath.Join(b.keys, "msp.pub"), "--data", b.data)
	// The box's one check connects to the test every second: the times
	// of its connections show when checks ran, and what a swap missed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	cfg := writeConfig(t, "site: Firmware Test\nprovisioning: {mount_roots: ['"+b.sticks+"'], block_devices: false, interval: 500ms}\n"+extra+"checks:\n  - {id: peer, kind: tcp, target: '"+ln.Addr().String()+"', interval: 1s}\n")
	b.sup = startSupervisor(t, b.bin, []string{"run", "--config", cfg, "--data", b.data, "--listen", "127.0.0.1:0", "--ui-listen", "127.0.0.1:0"}, env)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.sup.checkRan()
			c.Close()
		}
	}()
	b.waitRunning(fwOld)
	return b
}

func mustOutpost(t *testing.T, args ...string) string {
	t.Helper()
	out, code := outpost(t, args...)
	if code != 0 {
		t.Fatalf("outpost %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func copyBinary(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

func sha(t *testing.T, p string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// makeFirmware signs the binary of version v with the box's MSP key.
func (b *fwBox) makeFirmware(v string, extra ...string) string {
	b.t.Helper()
	return b.makeLabelled(v, v, extra...)
}

// makeLabelled signs the binary of version v, saying it is version label.
func (b *fwBox) makeLabelled(v, label string, extra ...string) string {
	b.t.Helper()
	out := filepath.Join(b.bundles, fmt.Sprintf("%s-%d.bundle", label, time.Now().UnixNano()))
	args := append([]string{"bundle", "firmware", "--key", filepath.Join(b.keys, "msp.key"), "--binary", firmwareBinaries(b.t)[v], "--version", label, "--out", out}, extra...)
	mustOutpost(b.t, args...)
	return out
}

func (b *fwBox) apply(file string, extra ...string) (string, int) {
	b.t.Helper()
	return outpost(b.t, append([]string{"firmware", "apply", file, "--data", b.data, "--binary-path", b.bin}, extra...)...)
}

func (b *fwBox) status() string {
	out, code := outpost(b.t, "firmware", "status", "--data", b.data)
	if code != 0 {
		return "not answering: " + out
	}
	return out
}

// waitRunning waits until the box runs version v with no update in
// progress.
func (b *fwBox) waitRunning(v string) string {
	b.t.Helper()
	var last string
	waitFor(b.t, "the box running "+v+" with no update in progress", patience, func() string {
		last = b.status()
		if strings.Contains(last, "running:  "+v+" ") && !strings.Contains(last, "update:") {
			return ""
		}
		return last + "\n--- daemon log tail ---\n" + b.sup.tail()
	})
	return last
}

func lastHistory(status string) string {
	lines := strings.Split(strings.TrimSpace(status), "\n")
	return lines[len(lines)-1]
}

// TestFirmwareUpdateRestartsIntoNewVersion: a running box applies a
// signed update of itself, restarts through its supervisor as the new
// version, which confirms itself healthy; the previous binary is kept
// and `firmware rollback` puts it back.
func TestFirmwareUpdateRestartsIntoNewVersion(t *testing.T) {
	b := newFirmwareBox(t)
	bins := firmwareBinaries(t)
	file := b.makeFirmware(fwNew, "--min-version", "1.0.0")
	start := time.Now()
	out, code := b.apply(file, "--health-window", "60s")
	if code != 0 || !strings.Contains(out, "firmware "+fwNew+" installed in "+b.bin) {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	applied := time.Since(start)
	var answered time.Duration
	waitFor(t, "the new version answering", patience, func() string {
		if s := b.status(); strings.Contains(s, "running:  "+fwNew) {
			answered = time.Since(start)
			return ""
		}
		return b.sup.tail()
	})
	st := b.waitRunning(fwNew)
	confirmed := time.Since(start)
	if !strings.Contains(lastHistory(st), "confirmed") || !strings.Contains(st, "highest:  "+fwNew) {
		t.Fatalf("status after the update:\n%s", st)
	}
	if sha(t, b.bin) != sha(t, bins[fwNew]) || sha(t, b.bin+".prev") != sha(t, bins[fwOld]) {
		t.Fatal("installed binary is not the new one, or outpost.prev not the old one")
	}
	if stale, _ := filepath.Glob(filepath.Join(b.dir, ".outpost-*")); len(stale) > 0 {
		t.Fatalf("left behind: %v", stale)
	}
	missed := b.sup.gapChecks(start, time.Second)
	t.Logf("FIGURES: apply returned after %s; new version answering after %s; confirmed healthy after %s; longest gap between check runs across the swap %s (about %d runs of a 1s check missed)",
		applied.Round(time.Millisecond), answered.Round(time.Millisecond), confirmed.Round(time.Millisecond), missed.Round(time.Millisecond), max(0, int(missed.Round(time.Second)/time.Second)-1))

	// Back by hand: the previous binary returns, recorded as such; the
	// highest version stays (a downgrade by bundle is still refused).
	out, code = outpost(t, "firmware", "rollback", "--data", b.data, "--binary-path", b.bin)
	if code != 0 || !strings.Contains(out, "rolled back "+fwNew+" to "+fwOld) {
		t.Fatalf("rollback: exit %d\n%s", code, out)
	}
	st = b.waitRunning(fwOld)
	if !strings.Contains(lastHistory(st), "rolled back") || !strings.Contains(lastHistory(st), "by hand") || !strings.Contains(st, "highest:  "+fwNew) {
		t.Fatalf("status after rollback:\n%s", st)
	}
	if sha(t, b.bin) != sha(t, bins[fwOld]) {
		t.Fatal("rollback did not put the old binary back")
	}
}

// insert puts file on a new stick (a directory in the automount root)
// as outpost-firmware.bundle.
func (b *fwBox) insert(label, file string) {
	b.t.Helper()
	dir := filepath.Join(b.sticks, label)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	copyBinary(b.t, file, filepath.Join(dir, bundle.FirmwareFileName))
}

// TestFirmwareFromAStick: a stick holding a signed update, inserted into
// a running box, updates it with nobody at the keyboard: installed,
// restarted as the new version, confirmed, the stick named in the
// history. Left in the box, the stick is passed over (the version it
// holds runs). A stick with a bad update is refused once, recorded,
// nothing changed.
func TestFirmwareFromAStick(t *testing.T) {
	b := newFirmwareBox(t)
	bins := firmwareBinaries(t)
	b.insert("UPDATE", b.makeFirmware(fwNew, "--min-version", "1.0.0"))
	st := b.waitRunning(fwNew)
	stick := filepath.Join(b.sticks, "UPDATE", bundle.FirmwareFileName)
	if !strings.Contains(lastHistory(st), "confirmed") || !strings.Contains(st, "applied ") || !strings.Contains(st, "(from stick "+stick+")") {
		t.Fatalf("status after the stick:\n%s", st)
	}
	if sha(t, b.bin) != sha(t, bins[fwNew]) || sha(t, b.bin+".prev") != sha(t, bins[fwOld]) {
		t.Fatal("installed binary is not the new one, or outpost.prev not the old one")
	}
	waitFor(t, "the new version to pass over the stick still in the box", patience, func() string {
		if strings.Contains(b.sup.log(), "the box runs this version already") {
			return ""
		}
		return b.sup.tail()
	})
	starts := b.sup.startCount()

	// A bad update: signed as v3.0.0 but the binary says v2.0.0.
	b.insert("BAD", b.makeLabelled(fwNew, "v3.0.0"))
	waitFor(t, "the bad stick to be refused", patience, func() string {
		if s := b.status(); strings.Contains(lastHistory(s), "refused") {
			return ""
		}
		return b.status() + "\n" + b.sup.tail()
	})
	// A later insertion shows the watcher looked again since.
	b.insert("LATER", b.makeFirmware(fwNew))
	waitFor(t, "the later stick to be passed over", patience, func() string {
		if strings.Count(b.sup.log(), "the box runs this version already") >= 2 {
			return ""
		}
		return b.sup.tail()
	})
	st = b.status()
	if n := strings.Count(st, "refused"); n != 1 || !strings.Contains(st, "its signed manifest says v3.0.0") || !strings.Contains(st, "running:  "+fwNew) {
		t.Fatalf("the bad stick refused %d times (want once), or the box changed:\n%s", n, st)
	}
	if sha(t, b.bin) != sha(t, bins[fwNew]) || b.sup.startCount() != starts {
		t.Fatal("a refused stick changed the binary or restarted the daemon")
	}
}

// rangeServer serves one file with Range support; the first response
// is cut after cut bytes (the connection dropped), as a flaky WAN does.
type rangeServer struct {
	file   string
	mu     sync.Mutex
	cut    int64
	ranges []string
}

func (s *rangeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	cut := s.cut
	s.cut = 0
	if rg := r.Header.Get("Range"); rg != "" {
		s.ranges = append(s.ranges, rg)
	}
	s.mu.Unlock()
	f, err := os.Open(s.file)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	defer f.Close()
	if cut > 0 {
		w = &cutResponse{ResponseWriter: w, left: cut}
	}
	http.ServeContent(w, r, "outpost-firmware.bundle", time.Time{}, f)
}

func (s *rangeServer) rangeRequests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ranges)
}

type cutResponse struct {
	http.ResponseWriter
	left int64
}

func (c *cutResponse) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, _ := c.ResponseWriter.Write(p)
	c.left -= int64(n)
	if c.left <= 0 {
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	return n, nil
}

// TestFirmwareFromPhoneHome: the MSP signs a notice for an update
// published at a URL and queues it at a real hq (`bundle notice`, `hq
// send --firmware`); the box gets it in a reply, downloads the bundle
// (the first download cut mid-way, the next resumed with a Range
// request), checks the signed hash, installs it, restarts into it and
// confirms it; hq sees the box's new version. A notice whose hash does
// not match what the URL serves is refused after its download, recorded,
// and the box keeps running its version.
func TestFirmwareFromPhoneHome(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, _ := testCA(t, dir, "hq")
	hqData := t.TempDir()
	hqAddr, uiAddr := freePort(t), freePort(t)
	_, hqLog := startHQLog(t, hqData, hqAddr, uiAddr, certFile, keyFile)
	b := newFirmwareBoxWith(t, fmt.Sprintf("phonehome: {url: 'https://%s/v1/summaries', interval: 300ms, ca_file: '%s', backoff_max: 1s}\n", hqAddr, caFile))
	bins := firmwareBinaries(t)
	id, key := boxIdentity(t, b.data)
	registerBox(t, hqData, id, key)

	file := b.makeFirmware(fwNew, "--min-version", "1.0.0")
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	srv := &rangeServer{file: file, cut: fi.Size() / 3}
	dl := httptest.NewServer(srv)
	defer dl.Close()
	notice := filepath.Join(dir, "notice.json")
	out := mustOutpost(t, "bundle", "notice", "--key", filepath.Join(b.keys, "msp.key"), "--bundle", file, "--url", dl.URL+"/outpost-firmware.bundle", "--out", notice)
	if !strings.Contains(out, "outpost "+fwNew+" at "+dl.URL) {
		t.Fatalf("bundle notice:\n%s", out)
	}
	sent := time.Now()
	mustOutpost(t, "hq", "send", "--box", id, "--firmware", notice, "--data", hqData)
	st := b.waitRunning(fwNew)
	confirmed := time.Since(sent)
	if !strings.Contains(lastHistory(st), "confirmed") || !strings.Contains(st, "(from phone home "+dl.URL+"/outpost-firmware.bundle)") {
		t.Fatalf("status after the notice:\n%s", st)
	}
	if sha(t, b.bin) != sha(t, bins[fwNew]) {
		t.Fatal("the installed binary is not the one published")
	}
	if rg := srv.rangeRequests(); len(rg) == 0 || rg[0] != fmt.Sprintf("bytes=%d-", fi.Size()/3) {
		t.Fatalf("the cut download was not resumed where it stopped: Range requests %q\n%s", rg, b.sup.tail())
	}
	t.Logf("FIGURES: hq send to the new version confirmed healthy: %s (phone home every 300 ms; a %d-byte bundle, the first download cut after %d bytes and resumed from there)",
		confirmed.Round(time.Millisecond), fi.Size(), fi.Size()/3)
	if left, _ := filepath.Glob(filepath.Join(b.data, "firmware", "download-*")); len(left) > 0 {
		t.Fatalf("downloads left behind: %v", left)
	}
	waitFor(t, "hq to see the box's new version and its confirmed update", patience, func() string {
		out, _ := outpost(t, "hq", "list", "--box", id, "--data", hqData)
		if strings.Contains(out, "version:      "+fwNew) && strings.Contains(out, "firmware "+fwNew) &&
			regexp.MustCompile(`firmware:\s+confirmed `+fwOld+` -> `+fwNew+`: healthy`).MatchString(out) {
			return ""
		}
		return out + "\nhq log:\n" + hqLog.String()
	})

	// The first notice again (held back and replayed): refused, as the
	// box took a newer one since; so is an expired one.
	firstNotice := filepath.Join(dir, "first-notice.json")
	copyBinary(t, notice, firstNotice)
	newer := filepath.Join(dir, "newer-notice.json")
	mustOutpost(t, "bundle", "notice", "--key", filepath.Join(b.keys, "msp.key"), "--bundle", file, "--url", dl.URL+"/outpost-firmware.bundle", "--out", newer)
	mustOutpost(t, "hq", "send", "--box", id, "--firmware", newer, "--data", hqData)
	waitFor(t, "the newer notice to be taken (the version running: passed over)", patience, func() string {
		out, _ := outpost(t, "hq", "list", "--box", id, "--data", hqData)
		if strings.Count(out, "done (summary") >= 2 {
			return ""
		}
		return out
	})
	mustOutpost(t, "hq", "send", "--box", id, "--firmware", firstNotice, "--data", hqData)
	expired := filepath.Join(dir, "expired-notice.json")
	mustOutpost(t, "bundle", "notice", "--key", filepath.Join(b.keys, "msp.key"), "--bundle", file, "--url", dl.URL+"/outpost-firmware.bundle", "--expires", "1ms", "--out", expired)
	waitFor(t, "the replayed notice to be refused by the box", patience, func() string {
		out, _ := outpost(t, "hq", "list", "--box", id, "--data", hqData)
		if strings.Contains(out, "before the newest notice this box took") {
			return ""
		}
		return out
	})
	mustOutpost(t, "hq", "send", "--box", id, "--firmware", expired, "--data", hqData)
	waitFor(t, "the expired notice to be refused by the box", patience, func() string {
		out, _ := outpost(t, "hq", "list", "--box", id, "--data", hqData)
		if strings.Contains(out, "expired at") {
			return ""
		}
		return out
	})

	// Signed for other bytes than the URL serves: downloaded, refused.
	other := b.makeLabelled(fwOld, "v3.0.0")
	mustOutpost(t, "bundle", "notice", "--key", filepath.Join(b.keys, "msp.key"), "--bundle", other, "--url", dl.URL+"/outpost-firmware.bundle", "--out", notice)
	mustOutpost(t, "hq", "send", "--box", id, "--firmware", notice, "--data", hqData)
	waitFor(t, "the mismatched download to be refused", patience, func() string {
		if s := b.status(); strings.Contains(lastHistory(s), "refused") {
			return ""
		}
		return b.status() + "\n" + b.sup.tail()
	})
	waitFor(t, "hq to see the refusal in the box's summary", patience, func() string {
		out, _ := outpost(t, "hq", "list", "--box", id, "--data", hqData)
		if regexp.MustCompile(`firmware:\s+refused .*SHA-256 is not the one the notice signed`).MatchString(out) {
			return ""
		}
		return out
	})
	st = b.status()
	if !strings.Contains(lastHistory(st), "SHA-256 is not the one the notice signed") || !strings.Contains(st, "running:  "+fwNew) || sha(t, b.bin) != sha(t, bins[fwNew]) {
		t.Fatalf("status after the mismatched notice:\n%s", st)
	}
}

// TestFirmwareRefusals: updates that must not apply are refused with the
// reason, and nothing changes: the same binary, no outpost.prev, no
// staged file, the daemon never restarted.
func TestFirmwareRefusals(t *testing.T) {
	b := newFirmwareBox(t)
	bins := firmwareBinaries(t)
	good := b.makeFirmware(fwNew)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, d []byte) string {
		p := filepath.Join(b.bundles, name)
		if err := os.WriteFile(p, d, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tampered := bytes.Clone(data)
	tampered[len(tampered)-5000] ^= 0x40
	otherKeys := filepath.Join(t.TempDir(), "other")
	mustOutpost(t, "bundle", "keygen", "--out", otherKeys)
	wrongKey := filepath.Join(b.bundles, "wrong-key.bundle")
	mustOutpost(t, "bundle", "firmware", "--key", filepath.Join(otherKeys, "msp.key"), "--binary", bins[fwNew], "--version", fwNew, "--out", wrongKey)
	key, err := os.ReadFile(filepath.Join(b.keys, "msp.key"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := bundle.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	newBin, err := os.ReadFile(bins[fwNew])
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	otherArch, err := bundle.MakeFirmware(priv, bundle.FirmwareManifest{Version: fwNew, OS: "windows", Arch: "arm64", Created: now, Expires: now.Add(time.Hour)}, newBin)
	if err != nil {
		t.Fatal(err)
	}
	provisioning := filepath.Join(b.bundles, "provision.bundle")
	mustOutpost(t, "bundle", "make", "--key", filepath.Join(b.keys, "msp.key"), "--site", writeConfig(t, "site: Firmware Test\n"), "--out", provisioning)

	cases := []struct{ name, file, want string }{
		{"tampered binary", write("tampered.bundle", tampered), "the binary was changed after signing"},
		{"wrong key", wrongKey, "not by the MSP key this box trusts"},
		{"downgrade", b.makeLabelled(fwOld, "v0.9.0"), "v0.9.0 is a downgrade: this box has run " + fwOld},
		{"binary of another version", b.makeLabelled(fwNew, "v3.0.0"), "the new binary says it is " + fwNew + "; its signed manifest says v3.0.0"},
		{"expired", b.makeFirmware(fwNew, "--expires", "1ms"), "the update expired at"},
		{"truncated", write("truncated.bundle", data[:len(data)-100]), "firmware bundle is truncated"},
		{"truncated envelope", write("head.bundle", data[:200]), "the envelope line does not end"},
		{"other os/arch", write("arch.bundle", otherArch), "the update is for windows/arm64"},
		{"min version not met", b.makeFirmware(fwNew, "--min-version", "1.5.0"), "needs at least 1.5.0 to update from; this box runs " + fwOld},
		{"running version again", b.makeFirmware(fwOld), "the box runs " + fwOld + " already"},
		{"provisioning bundle", provisioning, "this is a provisioning bundle"},
	}
	before := sha(t, b.bin)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := b.apply(c.file, "--health-window", "60s")
			if code != 1 || !strings.Contains(out, c.want) || !strings.Contains(out, "nothing changed") {
				t.Fatalf("exit %d\n%s\nwant %q", code, out, c.want)
			}
			if sha(t, b.bin) != before {
				t.Fatal("installed binary changed")
			}
			if _, err := os.Stat(b.bin + ".prev"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("outpost.prev exists: %v", err)
			}
			if stale, _ := filepath.Glob(filepath.Join(b.dir, ".outpost-*")); len(stale) > 0 {
				t.Fatalf("left behind: %v", stale)
			}
			st := b.status()
			if !strings.Contains(st, "running:  "+fwOld) || !strings.Contains(lastHistory(st), "refused") || strings.Contains(st, "update:") {
				t.Fatalf("status:\n%s", st)
			}
		})
	}
	if n := b.sup.startCount(); n != 1 {
		t.Fatalf("the daemon was started %d times; refusals must not restart it", n)
	}
}

// TestFirmwareUnhealthyVersionRollsBack: a new version that runs but
// never becomes healthy within its window, and one that crashes at every
// start, are both replaced by the previous binary without anyone's help,
// and the failure is recorded (status, log).
func TestFirmwareUnhealthyVersionRollsBack(t *testing.T) {
	for _, c := range []struct{ fault, want string }{
		{"unhealthy", "not healthy within its 3s health window: firmware test fault"},
		{"crash", fwNew + " did not come up healthy in 3 starts"},
	} {
		t.Run(c.fault, func(t *testing.T) {
			b := newFirmwareBox(t, "OUTPOST_TEST_FIRMWARE_FAULT="+fwNew+":"+c.fault)
			start := time.Now()
			if out, code := b.apply(b.makeFirmware(fwNew), "--health-window", "3s", "--max-boots", "3"); code != 0 {
				t.Fatalf("apply: exit %d\n%s", code, out)
			}
			waitFor(t, "the new version started", patience, func() string {
				if strings.Contains(b.sup.log(), "starting the new version in its health window") {
					return ""
				}
				return b.sup.tail()
			})
			st := b.waitRunning(fwOld)
			last := lastHistory(st)
			if !strings.Contains(last, "rolled back") || !strings.Contains(last, fwNew+" -> ") && !strings.Contains(last, c.want) {
				t.Fatalf("status:\n%s", st)
			}
			if !strings.Contains(st, c.want) || !strings.Contains(st, "highest:  "+fwOld) {
				t.Fatalf("status does not say why (%q):\n%s", c.want, st)
			}
			if !strings.Contains(b.sup.log(), "firmware: update rolled back") {
				t.Fatalf("no log line for the rollback:\n%s", b.sup.tail())
			}
			if sha(t, b.bin) != sha(t, firmwareBinaries(t)[fwOld]) {
				t.Fatal("the old binary is not installed again")
			}
			t.Logf("FIGURES: %s: back on %s %s after apply (%d starts)", c.fault, fwOld, time.Since(start).Round(time.Millisecond), b.sup.startCount())
		})
	}
}

// TestFirmwareSurvivesSIGKILLAtEveryStep: the daemon killed with SIGKILL
// at every step of an update (and of a rollback) still starts a working
// version, and knows what happened.
func TestFirmwareSurvivesSIGKILLAtEveryStep(t *testing.T) {
	// Mostly waiting on the daemon: it runs beside the other waiting tests.
	t.Parallel()
	for _, c := range []struct {
		step, fault, final, result string
	}{
		{"staged", "", fwOld, ""},
		{"prev", "", fwOld, ""},
		{"marked", "", fwOld, "interrupted"},
		{"swapped", "", fwNew, "confirmed"},
		{"rolling-back", "unhealthy", fwOld, "rolled back"},
		{"rolled-back", "unhealthy", fwOld, "rolled back"},
	} {
		t.Run(c.step, func(t *testing.T) {
			env := []string{"OUTPOST_TEST_FIRMWARE_PAUSE=" + c.step, "OUTPOST_TEST_FIRMWARE_PAUSE_ONCE=" + filepath.Join(t.TempDir(), "paused")}
			if c.fault != "" {
				env = append(env, "OUTPOST_TEST_FIRMWARE_FAULT="+fwNew+":"+c.fault)
			}
			b := newFirmwareBox(t, env...)
			file := b.makeFirmware(fwNew)
			applied := make(chan string, 1)
			go func() {
				out, code := outpost(t, "firmware", "apply", file, "--data", b.data, "--binary-path", b.bin, "--health-window", "3s")
				applied <- fmt.Sprintf("exit %d: %s", code, out)
			}()
			waitFor(t, "the update paused at "+c.step, patience, func() string {
				if strings.Contains(b.sup.log(), "FIRMWARE-TEST-PAUSE "+c.step) {
					return ""
				}
				return b.sup.tail()
			})
			b.sup.kill()
			<-applied
			st := b.waitRunning(c.final)
			if c.result != "" && !strings.Contains(lastHistory(st), c.result) {
				t.Fatalf("want %q last in the history:\n%s", c.result, st)
			}
			if sha(t, b.bin) != sha(t, firmwareBinaries(t)[c.final]) {
				t.Fatalf("installed binary is not %s", c.final)
			}
			// The box goes on working: its checks run.
			mark := time.Now()
			waitFor(t, "a check run after the kill", patience, func() string {
				if b.sup.checkRunSince(mark) {
					return ""
				}
				return b.sup.tail()
			})
		})
	}
}

// supervisor restarts a daemon that exits unsuccessfully or is killed,
// as systemd's Restart=on-failure does (RestartSec shortened to 100ms).
type supervisor struct {
	t    *testing.T
	mu   sync.Mutex
	buf  bytes.Buffer
	cur  *exec.Cmd
	n    int
	stop chan struct{}
	done chan struct{}
	// runs are the times the daemon logged a check result, for the gap
	// across a swap.
	runs []time.Time

	halted sync.Once
}

func startSupervisor(t *testing.T, bin string, args, env []string) *supervisor {
	t.Helper()
	s := &supervisor{t: t, stop: make(chan struct{}), done: make(chan struct{})}
	started := make(chan struct{})
	go func() {
		defer close(s.done)
		first := true
		for {
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), env...)
			w := &supWriter{s: s}
			cmd.Stdout, cmd.Stderr = w, w
			err := cmd.Start()
			s.mu.Lock()
			if err == nil {
				s.cur = cmd
				s.n++
			}
			s.mu.Unlock()
			if first {
				close(started)
				first = false
			}
			if err != nil {
				fmt.Fprintf(w, "supervisor: start: %v\n", err)
			} else {
				err = cmd.Wait()
			}
			select {
			case <-s.stop:
				return
			default:
			}
			if err == nil {
				fmt.Fprintln(w, "supervisor: exited 0; not restarting")
				return
			}
			fmt.Fprintf(w, "supervisor: %v; restarting\n", err)
			select {
			case <-s.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	<-started
	t.Cleanup(func() {
		s.halt()
		if t.Failed() {
			t.Logf("daemon log:\n%s", s.tail())
		}
	})
	return s
}

// halt stops the supervisor and its daemon (SIGTERM, then SIGKILL after
// patience); again is a no-op.
func (s *supervisor) halt() {
	s.halted.Do(func() {
		close(s.stop)
		s.mu.Lock()
		if s.cur != nil && s.cur.Process != nil {
			s.cur.Process.Signal(syscall.SIGTERM)
		}
		s.mu.Unlock()
		select {
		case <-s.done:
		case <-time.After(patience):
			s.kill()
			<-s.done
		}
	})
}

type supWriter struct{ s *supervisor }

func (w *supWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.buf.Write(p)
}

func (s *supervisor) checkRan() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, time.Now())
}

func (s *supervisor) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && s.cur.Process != nil {
		s.cur.Process.Kill()
	}
}

func (s *supervisor) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *supervisor) tail() string {
	l := s.log()
	if len(l) > 6000 {
		l = "…" + l[len(l)-6000:]
	}
	return l
}

func (s *supervisor) startCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *supervisor) checkRunSince(t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.runs) > 0 && s.runs[len(s.runs)-1].After(t)
}

// gapChecks is the longest time between two logged check results after
// from.
func (s *supervisor) gapChecks(from time.Time, _ time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var longest time.Duration
	var prev time.Time
	for _, r := range s.runs {
		if !prev.IsZero() && r.After(from) && r.Sub(prev) > longest {
			longest = r.Sub(prev)
		}
		prev = r
	}
	return longest
}
