// Package update installs signed firmware updates on the box and takes
// them back when the new version does not come up healthy.
//
// An update is staged beside the installed binary (same directory, same
// file system), synced, run once ("version") to prove it executes and is
// the version it claims, and swapped in with a rename; the previous binary
// stays as NAME.prev. On Windows, where a running .exe cannot be replaced
// by a rename but can be renamed, the installed binary is renamed aside
// first (removed at the next start), staged files end in ".exe" and the
// previous binary is NAME.prev.exe. Every step is recorded in a small marker file in the
// data directory (firmware/pending.json, written through a synced
// temporary file and a rename, the directory synced), before the step
// that it announces, so a daemon killed at any point starts again as a
// working version and knows where it stopped: Boot, run first at every
// start before the store is opened, counts the new binary's starts and
// puts the previous binary back when they run out; Watch gives it a
// health window. Which binary is running is judged by its SHA-256, not by
// its version string.
package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"outpost/firmware/bundle"
	"outpost/firmware/identity"
)

// Defaults for an update's health window and boot attempts.
const (
	DefaultWindow   = 5 * time.Minute
	DefaultMaxBoots = 3
	// MaxWindow bounds a health window asked for at the box.
	MaxWindow = 24 * time.Hour
	// MaxBootsLimit bounds the boot attempts asked for at the box.
	MaxBootsLimit = 20
)

// Marker states.
const (
	// Swapping: the new binary is staged and the previous one kept; the
	// rename that puts the new one in place comes next.
	Swapping = "swapping"
	// Trial: the new binary is in place and has Boots starts of
	// MaxBoots to come up healthy within Window.
	Trial = "trial"
	// RollingBack: the previous binary is being put back.
	RollingBack = "rolling-back"
	// Done: the update ended (Result says how); the daemon records it in
	// the store and removes the marker.
	Done = "done"
)

// Results of an ended update, as recorded.
const (
	Applied     = "applied"
	Confirmed   = "confirmed"
	Refused     = "refused"
	Interrupted = "interrupted"
	RolledBack  = "rolled back"
)

const markerFormat = "outpost-firmware-pending/1"

// maxMarker bounds the marker file, which is read before anything else at
// start.
const maxMarker = 16 << 10

// Pending is the marker of an update in progress, kept in the data
// directory so that it is there before the store opens (a new version
// whose store does not open is still counted) and whichever binary starts
// reads it.
type Pending struct {
	Format string `json:"format"`
	State  string `json:"state"`
	// From and To are the versions, FromSHA256 and ToSHA256 the
	// binaries' hashes (hex).
	From       string `json:"from"`
	To         string `json:"to"`
	FromSHA256 string `json:"from_sha256"`
	ToSHA256   string `json:"to_sha256"`
	// Binary is the installed binary's path; Prev is where the previous
	// binary is kept.
	Binary   string        `json:"binary"`
	Prev     string        `json:"prev"`
	Window   time.Duration `json:"window_ns"`
	MaxBoots int           `json:"max_boots"`
	Boots    int           `json:"boots"`
	Applied  time.Time     `json:"applied"`
	Source   string        `json:"source,omitempty"`
	Forced   bool          `json:"forced,omitempty"`
	// Result and Reason say how a Done update ended; Reason also says
	// why a rollback began.
	Result string `json:"result,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Options wire an Updater to its daemon.
type Options struct {
	// DataDir holds the marker (DataDir/firmware/pending.json).
	DataDir string
	// Version is the running binary's version.
	Version string
	// Now is the wall clock, for expiry and the records' times.
	Now func() time.Time
	Log *slog.Logger
}

// Updater applies updates one at a time. It is safe for concurrent use.
type Updater struct {
	o  Options
	mu sync.Mutex
}

// New makes an Updater.
func New(o Options) *Updater {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Updater{o: o}
}

// ErrRestart is wrapped by the errors that mean the daemon must exit
// unsuccessfully now, so that the service manager (systemd's
// Restart=on-failure, the Windows service's restart on failure) starts
// the binary now installed.
var ErrRestart = errors.New("restarting through the service manager")

// Rules are what an update must meet besides a good signature and hash.
type Rules struct {
	// Trusted is the MSP key the box trusts (nil: none, and every update
	// is refused).
	Trusted ed25519.PublicKey
	// Highest is the highest version that ran healthy on the box ("" if
	// none recorded); Running the version running now.
	Highest string
	Running string
	// Force allows a downgrade, the running version again, and a running
	// version that does not meet min_version (the technician at the box).
	Force bool
	Now   time.Time
	// Agent words the refusals for an agent, which nobody can force and
	// which trusts the key set on its server (the box when false).
	Agent bool
}

// Check says why f may not be applied under r, or nil.
func Check(f *bundle.Firmware, r Rules) error {
	me, clock, force, forceAgain, trust := "this box", "box clock", " (--force at the box allows it)", " (--force at the box installs it again)", "outpost bundle trust msp.pub"
	if r.Agent {
		me, clock, force, forceAgain, trust = "this agent", "agent clock", "", "", "outpost agent install --msp-key msp.pub, on the server"
	}
	switch {
	case r.Trusted == nil:
		return fmt.Errorf("%s trusts no MSP key: every firmware update is refused until it is told one (%s)", me, trust)
	case !r.Trusted.Equal(f.Key):
		return fmt.Errorf("signed by key %s, not by the MSP key %s trusts (%s)", identity.KeyID(f.Key), me, identity.KeyID(r.Trusted))
	case !r.Now.Before(f.Expires):
		return fmt.Errorf("the update expired at %s (%s %s)", f.Expires.UTC().Format(time.RFC3339), clock, r.Now.UTC().Format(time.RFC3339))
	case f.OS != runtime.GOOS || f.Arch != runtime.GOARCH:
		return fmt.Errorf("the update is for %s/%s; %s is %s/%s", f.OS, f.Arch, me, runtime.GOOS, runtime.GOARCH)
	}
	if r.Highest != "" {
		if c, err := bundle.CompareVersions(f.Version, r.Highest); err == nil && c < 0 && !r.Force {
			return fmt.Errorf("%s is a downgrade: %s has run %s%s", f.Version, me, r.Highest, force)
		}
	}
	if c, err := bundle.CompareVersions(f.Version, r.Running); err == nil && c == 0 && !r.Force {
		return fmt.Errorf("%s runs %s already%s", strings.Replace(me, "this", "the", 1), r.Running, forceAgain)
	}
	if f.MinVersion != "" && !r.Force {
		c, err := bundle.CompareVersions(r.Running, f.MinVersion)
		if err != nil {
			return fmt.Errorf("the update needs at least %s and %s runs %q, not a release version%s", f.MinVersion, me, r.Running, force)
		}
		if c < 0 {
			return fmt.Errorf("the update needs at least %s to update from; %s runs %s (update to %s first)", f.MinVersion, me, r.Running, f.MinVersion)
		}
	}
	return nil
}

// Request is one update to apply.
type Request struct {
	// Binary is the installed binary to replace (the path the service
	// runs); a link is followed to the file it names.
	Binary string
	Window time.Duration
	// MaxBoots is how many starts the new binary gets to come up healthy.
	MaxBoots int
	Source   string
	// Rules are checked once the envelope is read, before anything is
	// written.
	Rules Rules
}

// Apply reads a firmware bundle from in, checks it, and installs it: the
// binary is staged beside req.Binary, synced, run once, the current one
// kept as its ".prev", and the new one renamed into place. On return
// without an error the new binary is installed with a Swapping marker;
// the daemon must then exit for the service manager to start it (Boot
// takes over there). On an error the installed binary is as it was. The
// bundle read is returned when its envelope verified.
func (u *Updater) Apply(ctx context.Context, in io.Reader, req Request) (*bundle.Firmware, *Pending, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if p, err := u.read(); err != nil {
		return nil, nil, err
	} else if p != nil && p.State != Done {
		return nil, nil, fmt.Errorf("an update to %s is in progress (%s): wait for its health window, or `outpost firmware rollback`", p.To, p.State)
	}
	f, rest, err := bundle.ReadFirmware(in)
	if err != nil {
		return nil, nil, err
	}
	if err := Check(f, req.Rules); err != nil {
		return f, nil, err
	}
	if req.Window <= 0 {
		req.Window = DefaultWindow
	}
	if req.MaxBoots <= 0 {
		req.MaxBoots = DefaultMaxBoots
	}
	if req.Window > MaxWindow || req.MaxBoots > MaxBootsLimit {
		return f, nil, fmt.Errorf("health window at most %s and at most %d starts", MaxWindow, MaxBootsLimit)
	}
	bin, err := ResolveBinary(req.Binary)
	if err != nil {
		return f, nil, err
	}
	dir := filepath.Dir(bin)
	cleanStale(dir)
	stage, err := os.CreateTemp(dir, ".outpost-stage-*"+exeSuffix(runtime.GOOS))
	if err != nil {
		return f, nil, fmt.Errorf("staging beside %s (the service must be allowed to write %s): %w", bin, dir, err)
	}
	staged := stage.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(staged)
		}
	}()
	err = f.Copy(stage, rest)
	if err == nil {
		err = stage.Sync()
	}
	if cerr := stage.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(staged, 0o755)
	}
	if err != nil {
		return f, nil, fmt.Errorf("staging the new binary: %w", err)
	}
	pause("staged")
	if err := smokeTest(ctx, staged, f.Version); err != nil {
		return f, nil, err
	}
	prev := PrevPath(bin, runtime.GOOS)
	fromSum, err := keepPrevious(bin, prev)
	if err != nil {
		return f, nil, fmt.Errorf("keeping the previous binary as %s: %w", prev, err)
	}
	pause("prev")
	p := &Pending{Format: markerFormat, State: Swapping, From: u.o.Version, To: f.Version, FromSHA256: fromSum, ToSHA256: f.SHA256,
		Binary: bin, Prev: prev, Window: req.Window, MaxBoots: req.MaxBoots, Applied: u.o.Now().UTC(), Source: req.Source, Forced: req.Rules.Force}
	if err := u.write(p); err != nil {
		return f, nil, err
	}
	pause("marked")
	if err := replace(staged, bin, runtime.GOOS == "windows"); err != nil {
		u.remove()
		return f, nil, fmt.Errorf("putting the new binary in place: %w", err)
	}
	ok = true
	if err := syncDir(dir); err != nil {
		u.o.Log.Warn("firmware: syncing the binary's directory", "dir", dir, "err", err)
	}
	pause("swapped")
	u.o.Log.Warn("firmware: new binary installed; restarting to run it", "from", p.From, "to", p.To, "binary", bin, "previous", prev, "window", p.Window, "max_boots", p.MaxBoots)
	return f, p, nil
}

// Boot runs first at every start of the daemon, before the store opens.
// Without an update in progress it returns nil. For the new binary in
// its trial it counts the start and returns the marker, whose health
// window the daemon then runs (Watch); when the starts have run out it
// puts the previous binary back and returns an error wrapping ErrRestart.
// A marker of an update that ended (or was interrupted) is returned in
// state Done, for the daemon to record (Finish).
func (u *Updater) Boot() (*Pending, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	p, err := u.read()
	if err != nil {
		// An unreadable marker must not keep the box down: set it aside.
		bad := u.path() + ".bad"
		os.Rename(u.path(), bad)
		u.o.Log.Error("firmware: update marker unreadable; set aside, starting as installed", "file", bad, "err", err)
		return nil, nil
	}
	if p == nil {
		return nil, nil
	}
	// A binary renamed aside by the swap (Windows) is no longer running
	// once this start began: it can go now.
	cleanAside(filepath.Dir(p.Binary))
	me, err := selfSHA256()
	if err != nil {
		u.o.Log.Error("firmware: cannot hash the running binary; judging by version", "err", err)
		if u.o.Version == p.To {
			me = p.ToSHA256
		}
	}
	isNew := me == p.ToSHA256
	switch p.State {
	case Swapping:
		if !isNew {
			p.State, p.Result, p.Reason = Done, Interrupted, fmt.Sprintf("the daemon stopped before %s was put in place; %s kept", p.To, p.From)
			return p, u.write(p)
		}
		p.State = Trial
		fallthrough
	case Trial:
		if !isNew {
			p.State, p.Result = Done, RolledBack
			if p.Reason == "" {
				p.Reason = fmt.Sprintf("%s is no longer the installed binary (put back by hand?)", p.To)
			}
			return p, u.write(p)
		}
		p.Boots++
		if p.Boots > p.MaxBoots {
			return nil, u.rollback(p, fmt.Sprintf("%s did not come up healthy in %d starts", p.To, p.MaxBoots))
		}
		if err := u.write(p); err != nil {
			return nil, err
		}
		u.o.Log.Warn("firmware: starting the new version in its health window", "version", p.To, "start", p.Boots, "of", p.MaxBoots, "window", p.Window)
		if fault(p.To, "crash") {
			return nil, fmt.Errorf("firmware test fault: %s crashes at start", p.To)
		}
		return p, nil
	case RollingBack:
		if isNew {
			return nil, u.rollback(p, p.Reason)
		}
		p.State, p.Result = Done, RolledBack
		return p, u.write(p)
	case Done:
		return p, nil
	}
	bad := u.path() + ".bad"
	os.Rename(u.path(), bad)
	u.o.Log.Error("firmware: update marker in an unknown state; set aside", "state", p.State, "file", bad)
	return nil, nil
}

// Watch runs the health window of an update in its trial: healthy is
// asked every interval until it says yes (nil is returned: the caller
// records the update as confirmed, then calls Finish) or the window ends
// (the error says what was missing: the caller calls Rollback). The
// window runs on the monotonic clock from the call.
func Watch(ctx context.Context, p *Pending, interval time.Duration, healthy func() (ok bool, why string)) error {
	deadline := time.NewTimer(p.Window)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	why := "not checked yet"
	for {
		var ok bool
		if ok, why = healthy(); ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("%s not healthy within its %s health window: %s", p.To, p.Window, why)
		case <-tick.C:
		}
	}
}

// Rollback puts the previous binary back: that of the update in its
// trial, or, with none in progress, binary's ".prev" (by hand at the box,
// `outpost firmware rollback`). It returns an error wrapping ErrRestart
// once the previous binary is in place: the daemon must exit for the
// service manager to start it.
func (u *Updater) Rollback(ctx context.Context, binary, reason string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	p, err := u.read()
	if err != nil {
		return err
	}
	if p != nil && p.State == Trial {
		return u.rollback(p, reason)
	}
	if p != nil && p.State != Done {
		return fmt.Errorf("an update to %s is %s", p.To, p.State)
	}
	bin, err := ResolveBinary(binary)
	if err != nil {
		return err
	}
	prev := PrevPath(bin, runtime.GOOS)
	prevSum, err := fileSHA256(prev)
	if err != nil {
		return fmt.Errorf("no previous binary to go back to: %w", err)
	}
	curSum, err := fileSHA256(bin)
	if err != nil {
		return err
	}
	if prevSum == curSum {
		return fmt.Errorf("%s is the installed binary already", prev)
	}
	prevVersion, err := binaryVersion(ctx, prev)
	if err != nil {
		return err
	}
	p = &Pending{Format: markerFormat, State: Trial, From: prevVersion, To: u.o.Version, FromSHA256: prevSum, ToSHA256: curSum,
		Binary: bin, Prev: prev, Applied: u.o.Now().UTC(), Source: "outpost firmware rollback"}
	return u.rollback(p, reason)
}

// rollback puts p.Prev back in place of p.Binary; u.mu is held.
func (u *Updater) rollback(p *Pending, reason string) error {
	p.State, p.Reason = RollingBack, reason
	if err := u.write(p); err != nil {
		return err
	}
	u.o.Log.Error("firmware: rolling back", "from", p.To, "to", p.From, "reason", reason)
	pause("rolling-back")
	sum, err := fileSHA256(p.Prev)
	if err != nil || sum != p.FromSHA256 {
		if err == nil {
			err = fmt.Errorf("its SHA-256 is %s, not the previous binary's %s", sum, p.FromSHA256)
		}
		// Nothing to go back to: the new binary stays, said loudly.
		p.State, p.Result, p.Reason = Done, RolledBack+" failed", fmt.Sprintf("%s; the previous binary %s cannot be restored: %v; %s stays installed", reason, p.Prev, err, p.To)
		u.o.Log.Error("firmware: rollback impossible", "reason", p.Reason)
		return u.write(p)
	}
	if err := replace(p.Prev, p.Binary, runtime.GOOS == "windows"); err != nil {
		return fmt.Errorf("putting %s back in place: %w", p.Prev, err)
	}
	if err := syncDir(filepath.Dir(p.Binary)); err != nil {
		u.o.Log.Warn("firmware: syncing the binary's directory", "err", err)
	}
	pause("rolled-back")
	p.State, p.Result = Done, RolledBack
	if err := u.write(p); err != nil {
		return err
	}
	return fmt.Errorf("firmware: %s rolled back to %s (%s): %w", p.To, p.From, reason, ErrRestart)
}

// Finish removes the marker of an update whose end the daemon recorded
// (or confirmed).
func (u *Updater) Finish() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.remove()
}

// Pending returns the marker of the update in progress, or nil.
func (u *Updater) Pending() (*Pending, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.read()
}

// ResolveBinary makes the installed binary's path absolute and follows
// links to the file they name (the rename then replaces that file, and the
// link keeps naming it). It must be a regular file.
func ResolveBinary(p string) (string, error) {
	if p == "" {
		return "", errors.New("no binary path: give --binary-path")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("the installed binary: %w", err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", real)
	}
	return real, nil
}

func (u *Updater) path() string { return filepath.Join(u.o.DataDir, "firmware", "pending.json") }

func (u *Updater) read() (*Pending, error) {
	f, err := os.Open(u.path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMarker+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxMarker {
		return nil, fmt.Errorf("%s is over %d bytes", u.path(), maxMarker)
	}
	var p Pending
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %w", u.path(), err)
	}
	if p.Format != markerFormat || p.Binary == "" || p.Prev == "" || p.MaxBoots < 0 {
		return nil, fmt.Errorf("%s is not an update marker", u.path())
	}
	return &p, nil
}

// write replaces the marker through a synced temporary file and a
// rename, then syncs the directory: after a power cut the marker is the
// old one or the new one.
func (u *Updater) write(p *Pending) error {
	dir := filepath.Dir(u.path())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("firmware marker directory: %w", err)
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".pending-*")
	if err != nil {
		return fmt.Errorf("writing the firmware marker: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), u.path())
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("writing the firmware marker: %w", err)
	}
	return nil
}

func (u *Updater) remove() error {
	if err := os.Remove(u.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(u.path()))
}

// keepPrevious makes prev a copy of bin (a hard link when the file system
// has them) through a temporary name, and returns bin's SHA-256.
func keepPrevious(bin, prev string) (string, error) {
	sum, err := fileSHA256(bin)
	if err != nil {
		return "", err
	}
	tmp := filepath.Join(filepath.Dir(bin), ".outpost-prev-tmp")
	os.Remove(tmp)
	if err := os.Link(bin, tmp); err != nil {
		if err := copyFile(bin, tmp); err != nil {
			os.Remove(tmp)
			return "", err
		}
	}
	if err := os.Rename(tmp, prev); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return sum, syncDir(filepath.Dir(bin))
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// cleanStale removes what an apply killed half-way left in dir.
func cleanStale(dir string) {
	stale, _ := filepath.Glob(filepath.Join(dir, ".outpost-stage-*"))
	for _, s := range append(stale, filepath.Join(dir, ".outpost-prev-tmp")) {
		os.Remove(s)
	}
	cleanAside(dir)
}

// asidePattern names the binaries a Windows swap renamed aside.
const asidePattern = ".outpost-old-*"

// cleanAside removes the binaries earlier swaps renamed aside in dir;
// one still running (Windows refuses to delete it) stays until the next
// start.
func cleanAside(dir string) {
	aside, _ := filepath.Glob(filepath.Join(dir, asidePattern))
	for _, s := range aside {
		os.Remove(s)
	}
}

// exeSuffix is what a program's name must end with on goos: Windows'
// CreateProcess appends ".exe" to a name without an extension, so a
// staged binary named otherwise could not be run for its smoke test.
func exeSuffix(goos string) string {
	if goos == "windows" {
		return ".exe"
	}
	return ""
}

// PrevPath is where the binary bin had before an update is kept on goos:
// bin's ".prev" (Linux: outpost.prev), or, on Windows, the name without
// ".exe" and ".prev.exe" (outpost.prev.exe), which still runs there.
func PrevPath(bin, goos string) string {
	if goos == "windows" {
		return strings.TrimSuffix(bin, filepath.Ext(bin)) + ".prev.exe"
	}
	return bin + ".prev"
}

// replace puts src in place of dst with a rename. With aside (Windows)
// dst is renamed aside first, because a running image cannot be
// replaced by a rename there but can be renamed; the aside copy is
// removed at the next start (cleanAside), and put back if src cannot
// take its place. Between the two renames dst is missing: a power cut
// exactly there leaves the service without its binary, which the kept
// previous binary (PrevPath) restores by hand.
func replace(src, dst string, aside bool) error {
	if !aside {
		return os.Rename(src, dst)
	}
	var b [8]byte
	rand.Read(b[:])
	old := filepath.Join(filepath.Dir(dst), strings.Replace(asidePattern, "*", hex.EncodeToString(b[:]), 1)+filepath.Ext(dst))
	if err := os.Rename(dst, old); err != nil {
		return fmt.Errorf("renaming the running binary aside: %w", err)
	}
	if err := os.Rename(src, dst); err != nil {
		if rerr := os.Rename(old, dst); rerr != nil {
			return fmt.Errorf("%w; and putting the running binary back from %s failed too: %v", err, old, rerr)
		}
		return err
	}
	return nil
}

// smokeTest runs the staged binary's "version": it must execute on this
// box and say it is the version its manifest names.
func smokeTest(ctx context.Context, bin, want string) error {
	got, err := binaryVersion(ctx, bin)
	if err != nil {
		return fmt.Errorf("the new binary does not run here: %w", err)
	}
	if got != want {
		return fmt.Errorf("the new binary says it is %s; its signed manifest says %s", got, want)
	}
	return nil
}

// binaryVersion runs bin's "version" and returns the version it prints.
func binaryVersion(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "version")
	cmd.Env = []string{}
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", bin, err)
	}
	fields := strings.Fields(string(out))
	if len(fields) < 2 || fields[0] != "outpost" {
		return "", fmt.Errorf("%s version printed %q: not an outpost binary", bin, abbreviate(string(out)))
	}
	return fields[1], nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return readerSHA256(f)
}

func readerSHA256(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// selfSHA256 hashes the running binary: on Linux through /proc/self/exe,
// which names the file this process runs even after a rename replaced
// it.
func selfSHA256() (string, error) {
	if runtime.GOOS == "linux" {
		if f, err := os.Open("/proc/self/exe"); err == nil {
			defer f.Close()
			return readerSHA256(f)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return fileSHA256(exe)
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be synced there; NTFS journals renames
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func abbreviate(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
