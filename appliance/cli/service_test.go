package cli

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/kardianos/service"

	"outpost/firmware/identity"
)

func TestServiceConfigArguments(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "site.yaml")
	os.WriteFile(cfg, []byte("site: Acme\nchecks: []\n"), 0o644)
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir)
	sc, err := ServiceConfig("site.yaml", "data")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"run", "--config", filepath.Join(dir, "site.yaml"), "--data", filepath.Join(dir, "data")}
	if strings.Join(sc.Arguments, " ") != strings.Join(want, " ") {
		t.Fatalf("arguments %q, want %q", sc.Arguments, want)
	}
	if sc.Name != "outpost" || sc.Option["Restart"] != "on-failure" {
		t.Fatalf("config %+v", sc)
	}
	// Without --config the service runs the embedded default.
	sc, err = ServiceConfig("", "/var/lib/outpost")
	if err != nil || strings.Join(sc.Arguments, " ") != "run --data /var/lib/outpost" {
		t.Fatalf("default: %v %v", sc.Arguments, err)
	}
	// --trust-first-stick goes to the daemon's arguments.
	sc, err = ServiceConfig("", "/var/lib/outpost", "--trust-first-stick")
	if err != nil || strings.Join(sc.Arguments, " ") != "run --data /var/lib/outpost --trust-first-stick" {
		t.Fatalf("trust on first use: %v %v", sc.Arguments, err)
	}
	// A config that does not load is refused before anything is installed.
	os.WriteFile(cfg, []byte("site: Acme\nchecks:\n  - {id: a, kind: tcp, target: '127.0.0.1:1', interval: 5x}\n"), 0o644)
	_, err = ServiceConfig(cfg, "data")
	if err == nil || !strings.Contains(err.Error(), `checks[0].interval: "5x" is not a duration`) {
		t.Fatalf("bad config: %v", err)
	}
}

// TestSystemdUnitGenerated installs the service through kardianos/service
// with the systemd backend forced (this machine's PID 1 may not be
// systemd) and reads the unit file it wrote. `systemctl enable` and
// daemon-reload may fail without a running systemd; the unit file is what
// is under test.
func TestSystemdUnitGenerated(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux to write /etc/systemd/system")
	}
	var sys service.System
	for _, s := range service.AvailableSystems() {
		if s.String() == "linux-systemd" {
			sys = s
		}
	}
	if sys == nil {
		t.Fatal("kardianos/service has no linux-systemd backend")
	}
	service.ChooseSystem(forcedSystem{sys})
	defer service.ChooseSystem(service.AvailableSystems()...)

	// The binary as `outpost install` places it: in a directory of its
	// own that the unit lets the service write (firmware updates).
	exe, _ := os.Executable()
	binDir := filepath.Join(t.TempDir(), "lib", "outpost")
	bin, err := placeBinary(exe, binDir)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := serviceConfigAt(bin, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sc.Name = "outpost-unittest-" + strings.ReplaceAll(filepath.Base(t.TempDir()), "_", "")
	unit := "/etc/systemd/system/" + sc.Name + ".service"
	os.MkdirAll("/etc/systemd/system", 0o755)
	defer os.Remove(unit)
	s, err := service.New(&program{}, sc)
	if err != nil {
		t.Fatal(err)
	}
	installErr := s.Install()
	body, err := os.ReadFile(unit)
	if err != nil {
		t.Fatalf("unit not written (install error: %v): %v", installErr, err)
	}
	for _, want := range []string{
		"ExecStart=" + bin + ` "run" "--data" "` + sc.Arguments[2] + `"`,
		"Restart=on-failure",
		"RestartSec=5",
		"ExecReload=/bin/kill -HUP $MAINPID",
		"After=network-online.target",
		"WantedBy=multi-user.target",
		"WorkingDirectory=" + sc.WorkingDirectory,
		// Hardening (docs/security.md, Privileges).
		"\nNoNewPrivileges=yes\n",
		"\nProtectSystem=strict\n",
		"\nReadWritePaths=" + sc.WorkingDirectory + " " + binDir + " -/media -/run/media\n",
		"\nProtectHome=yes\n",
		"\nPrivateTmp=yes\n",
		"\nProtectKernelTunables=yes\n",
		"\nProtectKernelModules=yes\n",
		"\nProtectControlGroups=yes\n",
		"\nRestrictSUIDSGID=yes\n",
		"\nLockPersonality=yes\n",
		"\nCapabilityBoundingSet=CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_SYS_ADMIN\n",
		"\nAmbientCapabilities=CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_SYS_ADMIN\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("unit lacks %q:\n%s", want, body)
		}
	}
	verifyUnit(t, unit)
	s.Uninstall()
}

// verifyUnit runs `systemd-analyze verify` on a unit file: it parses every
// directive (an unknown or misspelt one is an error) without PID 1 being
// systemd. Debian package systemd, which make test installs.
func verifyUnit(t *testing.T, unit string) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd)")
	}
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}
}

// A mount root from the installed config is writable too, once.
func TestSystemdUnitMountRoots(t *testing.T) {
	got := unitFor([]string{"/usr/local/lib/outpost/"}, []string{"/media", "/run/media", "/srv/sticks/", "/media"})
	if !strings.Contains(got, "{{end}}/usr/local/lib/outpost -/media -/run/media -/srv/sticks\n") {
		t.Fatalf("ReadWritePaths line wrong:\n%s", got)
	}
}

// forcedSystem makes kardianos/service use a backend whatever PID 1 is.
type forcedSystem struct{ service.System }

func (forcedSystem) Detect() bool { return true }

// TestAgentSystemdUnitGenerated: `outpost agent install` on Linux writes
// a systemd unit running `outpost agent run` with the chosen listen
// address and data directory, restarted on failure.
func TestAgentSystemdUnitGenerated(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux to write /etc/systemd/system")
	}
	var sys service.System
	for _, s := range service.AvailableSystems() {
		if s.String() == "linux-systemd" {
			sys = s
		}
	}
	if sys == nil {
		t.Fatal("kardianos/service has no linux-systemd backend")
	}
	service.ChooseSystem(forcedSystem{sys})
	defer service.ChooseSystem(service.AvailableSystems()...)

	data := t.TempDir()
	sc, err := AgentServiceConfig("10.0.0.5:8471", data)
	if err != nil {
		t.Fatal(err)
	}
	sc.Name = "outpost-agent-unittest-" + strings.ReplaceAll(filepath.Base(t.TempDir()), "_", "")
	unit := "/etc/systemd/system/" + sc.Name + ".service"
	os.MkdirAll("/etc/systemd/system", 0o755)
	defer os.Remove(unit)
	s, err := service.New(&agentProgram{}, sc)
	if err != nil {
		t.Fatal(err)
	}
	installErr := s.Install()
	body, err := os.ReadFile(unit)
	if err != nil {
		t.Fatalf("unit not written (install error: %v): %v", installErr, err)
	}
	exe, _ := os.Executable()
	for _, want := range []string{
		"ExecStart=" + exe + ` "agent" "run" "--listen" "10.0.0.5:8471" "--data" "` + data + `"`,
		"Restart=on-failure",
		"WantedBy=multi-user.target",
		"Description=Outpost agent: lets the site's Outpost box watch this server",
		// An update swaps the binary in its own directory.
		"ReadWritePaths=" + data + " " + filepath.Dir(exe),
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("unit lacks %q:\n%s", want, body)
		}
	}
	s.Uninstall()
}

// TestInstallMSPKey: `install --msp-key` (and `bundle trust` with the
// daemon stopped) writes DATA/msp.pub, creating DATA for root only, and
// does not silently replace another key unless told to.
func TestInstallMSPKey(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	a, _, _ := ed25519.GenerateKey(nil)
	b, _, _ := ed25519.GenerateKey(nil)
	file, err := installMSPKey(data, a, false)
	if err != nil || file != filepath.Join(data, "msp.pub") {
		t.Fatalf("install: %s %v", file, err)
	}
	if fi, _ := os.Stat(data); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o750 {
		t.Fatalf("data dir mode %v", fi.Mode())
	}
	got, _ := os.ReadFile(file)
	if strings.TrimSpace(string(got)) != identity.FormatPublicKey(a) {
		t.Fatalf("msp.pub holds %q", got)
	}
	if _, err := installMSPKey(data, b, false); err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("another key without --replace: %v", err)
	}
	if _, err := installMSPKey(data, b, true); err != nil {
		t.Fatal(err)
	}
}

// TestPlaceBinary: `outpost install` copies the running binary into its
// own directory (re-installing from there copies nothing), and makes the
// command technicians type a link to it: created when missing, replacing
// the file installed from, leaving another binary alone.
func TestPlaceBinary(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "outpost-download")
	os.WriteFile(src, []byte("#!/bin/sh\necho v1\n"), 0o700)
	libDir, linkDir := filepath.Join(dir, "lib", "outpost"), filepath.Join(dir, "bin")
	bin, err := placeBinary(src, libDir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(bin); string(b) != "#!/bin/sh\necho v1\n" || bin != filepath.Join(libDir, "outpost") {
		t.Fatalf("placed %s: %q", bin, b)
	}
	if fi, _ := os.Stat(bin); fi.Mode().Perm() != 0o755 {
		t.Fatalf("placed binary mode %v, want 0755", fi.Mode())
	}
	again, err := placeBinary(bin, libDir)
	if err != nil || again != bin {
		t.Fatalf("re-install from the placed binary: %s %v", again, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(libDir, ".outpost-install-*")); len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}

	note, err := linkCommand(bin, src, linkDir)
	if to, _ := os.Readlink(filepath.Join(linkDir, "outpost")); err != nil || to != bin {
		t.Fatalf("link missing: %q %v (%s)", to, err, note)
	}
	// Installed from /usr/local/bin/outpost itself: it becomes the link.
	os.Remove(filepath.Join(linkDir, "outpost"))
	os.WriteFile(filepath.Join(linkDir, "outpost"), []byte("v1"), 0o755)
	if _, err := linkCommand(bin, filepath.Join(linkDir, "outpost"), linkDir); err != nil {
		t.Fatal(err)
	}
	if to, _ := os.Readlink(filepath.Join(linkDir, "outpost")); to != bin {
		t.Fatalf("the file installed from was not replaced by the link: %q", to)
	}
	// Another binary there is not the installer's to replace.
	os.Remove(filepath.Join(linkDir, "outpost"))
	os.WriteFile(filepath.Join(linkDir, "outpost"), []byte("someone else's"), 0o755)
	note, err = linkCommand(bin, src, linkDir)
	if b, _ := os.ReadFile(filepath.Join(linkDir, "outpost")); err != nil || string(b) != "someone else's" || !strings.Contains(note, "left as it is") {
		t.Fatalf("another binary replaced: %q %q %v", b, note, err)
	}
}
