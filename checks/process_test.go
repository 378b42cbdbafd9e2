//go:build linux

package checks_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/checks"
)

// namedSleep copies sleep(1) under a new name, so the processes it starts
// have a comm and exe nobody else on the machine has.
func namedSleep(t *testing.T, name string) string {
	t.Helper()
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatalf("sleep(1): %v", err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(t.TempDir(), name)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// startChild starts bin and kills it when the test ends.
func startChild(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func TestProcessCountsRealChildren(t *testing.T) {
	name := fmt.Sprintf("opt%d", os.Getpid()%100000) // unique, under 15 bytes
	bin := namedSleep(t, name)
	c := buildLocal(t, "process", name, "")
	wantLocal(t, runLocal(t, c, time.Second), checks.Critical, name+" is not running")

	first := startChild(t, bin, "30")
	r := runLocal(t, c, time.Second)
	wantLocal(t, r, checks.OK, fmt.Sprintf("1 %s running (pid %d)", name, first.Process.Pid))
	if r.Value != 1 {
		t.Fatalf("count %v, want 1", r.Value)
	}

	second := startChild(t, bin, "30")
	wantLocal(t, runLocal(t, buildLocal(t, "process", name, "{max: 1}"), time.Second), checks.Warning, "2 "+name+" running")
	wantLocal(t, runLocal(t, buildLocal(t, "process", name, "{min: 3}"), time.Second), checks.Critical, "expected at least 3")
	wantLocal(t, runLocal(t, buildLocal(t, "process", name, "{min: 2, max: 2}"), time.Second), checks.OK, "2 "+name+" running")

	for _, cmd := range []*exec.Cmd{first, second} {
		cmd.Process.Kill()
		cmd.Wait()
	}
	r = runLocal(t, c, time.Second)
	wantLocal(t, r, checks.Critical, name+" is not running")
	if !r.HasValue || r.Value != 0 {
		t.Fatalf("count %v after kill, want 0", r.Value)
	}
	wantLocal(t, runLocal(t, buildLocal(t, "process", name, "{min: 0}"), time.Second), checks.OK, "0 "+name+" running")
}

func TestProcessZombieIsNotRunning(t *testing.T) {
	name := fmt.Sprintf("ozb%d", os.Getpid()%100000)
	cmd := startChild(t, namedSleep(t, name), "30")
	c := buildLocal(t, "process", name, "")
	wantLocal(t, runLocal(t, c, time.Second), checks.OK, "1 "+name)
	// Killed but not yet waited for, the child stays a zombie.
	cmd.Process.Kill()
	stat := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/stat"
	for {
		b, err := os.ReadFile(stat)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.LastIndexByte(b, ')'); i > 0 && b[i+2] == 'Z' {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	wantLocal(t, runLocal(t, c, time.Second), checks.Critical, name+" is not running")
}

func TestProcessLongNameAndCmdline(t *testing.T) {
	// 25 bytes: comm holds only the first 15, exe the whole name.
	name := fmt.Sprintf("outpost-sleeper-%09d", os.Getpid())
	cmd := startChild(t, namedSleep(t, name), "30.5")
	wantLocal(t, runLocal(t, buildLocal(t, "process", name, ""), time.Second), checks.OK, fmt.Sprintf("1 %s running (pid %d)", name, cmd.Process.Pid))

	arg := fmt.Sprintf("%d.25", 30+os.Getpid()%1000) // a command line nobody else has
	cmd2 := startChild(t, namedSleep(t, "plain"), arg)
	r := runLocal(t, buildLocal(t, "process", "ignored", "{cmdline_contains: '"+arg+"'}"), time.Second)
	wantLocal(t, r, checks.OK, fmt.Sprintf("1 command line containing %q running (pid %d)", arg, cmd2.Process.Pid))
}

// The default config watches the daemon itself as "outpost".
func TestProcessFindsOutpost(t *testing.T) {
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	var spec *checks.Spec
	for _, s := range cfg.Specs() {
		if s.Kind == "process" && s.Target == "outpost" {
			spec = &s
		}
	}
	if spec == nil {
		t.Fatal("the default config has no process check for outpost")
	}
	c, err := checks.Build(*spec, checks.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := startChild(t, namedSleep(t, "outpost"), "30")
	// Other copies of outpost may run on this machine: at least ours.
	r := runLocal(t, c, time.Second)
	if r.Status != checks.OK || r.Value < 1 {
		t.Fatalf("outpost (pid %d) not found: %+v", cmd.Process.Pid, r)
	}
}
