package snmp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"outpost/checks"
)

// The package's tests share one snmpsimd serving every recording: the
// permissive ones from testdata/snmprec, Outpost's own synthetic ones, the
// GPL HP printer from ../shared/snmprec when present, and benchmark
// aliases. It starts once in TestMain and is killed at the end.
var sim struct {
	port    int
	dir     string
	skipMsg string
}

// hpPrinterPath is where the GPL recording lives outside the repository.
var hpPrinterPath = filepath.Join("..", "..", "..", "shared", "snmprec", "printer_hp_m452nw.snmprec")

// benchDevices is how many community aliases of one recording the
// benchmark polls.
const benchDevices = 100

func TestMain(m *testing.M) {
	stop, err := startSim()
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "snmpsim:", err)
			os.Exit(1)
		}
		sim.skipMsg = err.Error()
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	os.Exit(code)
}

// needSim skips (or, under CI, fails) a test when snmpsimd cannot run.
func needSim(t testing.TB) {
	t.Helper()
	if sim.skipMsg != "" {
		t.Skip("snmpsim not available (`make test` installs Debian's snmpsim): " + sim.skipMsg)
	}
}

func startSim() (func(), error) {
	bin, err := exec.LookPath("snmpsimd")
	if err != nil {
		return nil, fmt.Errorf("snmpsimd not found in PATH")
	}
	// Persistent data and cache dirs: snmpsim indexes each file on first
	// use and keys its index by path and mtime, so files copied only when
	// changed keep their index across runs.
	base := filepath.Join(os.TempDir(), "outpost-snmpsim")
	data, cache := filepath.Join(base, "data"), filepath.Join(base, "cache")
	for _, d := range []string{data, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	var files []string
	for _, g := range []string{"testdata/snmprec/*.snmprec", "testdata/synthetic/*.snmprec"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if _, err := os.Stat(hpPrinterPath); err == nil {
		files = append(files, hpPrinterPath)
	}
	for _, f := range files {
		if err := syncFile(f, filepath.Join(data, filepath.Base(f))); err != nil {
			return nil, err
		}
	}
	for i := 0; i < benchDevices; i++ {
		link := filepath.Join(data, fmt.Sprintf("bench%03d.snmprec", i))
		if _, err := os.Lstat(link); err != nil {
			os.Symlink("linux_full_walk.snmprec", link)
		}
	}
	args := []string{"--data-dir=" + data, "--cache-dir=" + cache, "--logging-method=null",
		"--v3-user=tech", "--v3-auth-key=authpass123", "--v3-auth-proto=SHA", "--v3-priv-key=privpass123", "--v3-priv-proto=AES"}
	if os.Geteuid() == 0 {
		// snmpsimd refuses to keep root; nobody must read the files.
		u, err := user.Lookup("nobody")
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		filepath.Walk(base, func(p string, _ os.FileInfo, _ error) error { os.Lchown(p, uid, gid); return nil })
		g, _ := user.LookupGroupId(u.Gid)
		args = append(args, "--process-user=nobody", "--process-group="+g.Name)
	}
	port := freeUDPPort()
	args = append(args, fmt.Sprintf("--agent-udpv4-endpoint=127.0.0.1:%d", port))
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	sim.port, sim.dir = port, data
	// Wait until it answers (first start indexes the big files).
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		s, err := Dial(simTarget("ups_eaton_93e"))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err = s.Get(ctx, oidSysName)
			cancel()
			s.Close()
			if err == nil {
				return stop, nil
			}
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	return nil, fmt.Errorf("snmpsimd did not answer: %s", stderr.String())
}

func syncFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, b) {
		return nil
	}
	return os.WriteFile(dst, b, 0o644)
}

func freeUDPPort() int {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// simTarget is a v2c target for one recording (community = file name).
func simTarget(recording string) Target {
	return Target{Name: recording, Address: "127.0.0.1", SNMP: checks.SNMP{Port: sim.port, Version: "2c", Community: checks.Secret(recording),
		Timeout: 5 * time.Second, Retries: 1}}.WithDefaults()
}

// simSession opens a direct session to a recording.
func simSession(t testing.TB, recording string) *Session {
	t.Helper()
	needSim(t)
	s, err := Dial(simTarget(recording))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rec is a parsed .snmprec file: what the device said, to assert against.
type rec map[string]string

// loadRec reads a recording; 4x values are decoded from hex.
func loadRec(t testing.TB, recording string) rec {
	t.Helper()
	path := filepath.Join("testdata", "snmprec", recording+".snmprec")
	if recording == "printer_hp_m452nw" {
		path = hpPrinterPath
	} else if _, err := os.Stat(path); err != nil {
		path = filepath.Join("testdata", "synthetic", recording+".snmprec")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := rec{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "|", 3)
		if len(parts) != 3 {
			continue
		}
		v := parts[2]
		if strings.HasSuffix(parts[1], "x") {
			if d, err := hex.DecodeString(v); err == nil {
				v = string(d)
			}
		}
		r["."+parts[0]] = v
	}
	return r
}

// int reads a numeric value from the recording.
func (r rec) int(t testing.TB, oid string) int64 {
	t.Helper()
	v, ok := r[oid]
	if !ok {
		t.Fatalf("recording has no %s", oid)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s = %q is not a number", oid, v)
	}
	return n
}

// rows lists the row indexes under a column, in file order.
func (r rec) rows(col string) []string {
	var out []string
	for k := range r {
		if strings.HasPrefix(k, col+".") {
			out = append(out, strings.TrimPrefix(k, col+"."))
		}
	}
	return out
}
