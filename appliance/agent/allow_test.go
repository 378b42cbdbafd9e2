package agent

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"outpost/checks/agent/wire"
)

func TestAllowListFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix paths")
	}
	good := "services: [nginx]\nscripts:\n  - {name: flush, command: /usr/local/bin/flush, args: [--all, two words]}\nlogs: [journal, /var/log/app.log, Application]\n"
	p, err := ParseAllowList([]byte(good))
	if err != nil || len(p.Services) != 1 || p.Scripts[0].Args[1] != "two words" || len(p.Logs) != 3 {
		t.Fatalf("%+v %v", p, err)
	}
	if p, err := ParseAllowList(nil); err != nil || len(p.Services)+len(p.Scripts)+len(p.Logs) != 0 {
		t.Fatalf("empty file: %+v %v", p, err)
	}
	for bad, want := range map[string]string{
		"services: [nginx]\nextra: 1\n":                                       "field extra not found",
		"scripts: [{name: sh, command: sh, args: [-c, id]}]\n":                "must be an absolute path",
		"scripts: [{name: a, command: /bin/a}, {name: a, command: /bin/b}]\n": "appears twice",
		"scripts: [{name: '../x', command: /bin/a}]\n":                        "is not a script name",
		"services: ['a;b']\n":                                                 "is not a service name",
		"logs: [var/log/x]\n":                                                 "neither a log name",
	} {
		if _, err := ParseAllowList([]byte(bad)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", bad, err, want)
		}
	}
}

func TestNarrowNeverWidens(t *testing.T) {
	local := wire.Policy{Services: []string{"nginx"}, Scripts: []wire.Script{{Name: "flush", Command: "/usr/local/bin/flush", Args: []string{"--all"}}}, Logs: []string{"journal"}}
	box := wire.Policy{
		Services: []string{"nginx", "sshd"},
		Scripts: []wire.Script{
			{Name: "flush", Command: "/usr/local/bin/flush", Args: []string{"--all"}},
			{Name: "evil", Command: "/bin/sh", Args: []string{"-c", "id"}},
		},
		Logs: []string{"/etc/shadow"},
	}
	eff, refused := narrow(local, box)
	if len(eff.Services) != 1 || eff.Services[0] != "nginx" || len(eff.Scripts) != 1 || eff.Scripts[0].Name != "flush" || len(eff.Logs) != 1 || eff.Logs[0] != "journal" {
		t.Fatalf("effective %+v", eff)
	}
	if len(refused) != 2 || !strings.Contains(refused[1], `/bin/sh -c id`) {
		t.Fatalf("refused %q", refused)
	}
	// Same name, other arguments: refused, not swapped for the local one.
	box.Scripts = []wire.Script{{Name: "flush", Command: "/usr/local/bin/flush", Args: []string{"--all", "; rm -rf /"}}}
	if eff, refused := narrow(local, box); len(eff.Scripts) != 0 || len(refused) != 2 {
		t.Fatalf("altered script: %+v %q", eff, refused)
	}
	if !allowsLog(local, "journal") || allowsLog(local, "/etc/shadow") || allowsLog(wire.Policy{Logs: []string{"/var/log/a.log"}}, "/var/log/../../etc/shadow") {
		t.Fatal("log matching")
	}
	if !allowsLog(wire.Policy{Logs: []string{"/var/log/a.log"}}, "/var/log/./a.log") {
		t.Fatal("a clean path")
	}
	if got := CommandLine(wire.Script{Command: "/bin/sh", Args: []string{"-c", "echo hi", ""}}); got != `/bin/sh -c "echo hi" ""` {
		t.Fatal(got)
	}
}

func TestAllowListFileMustBePrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix modes")
	}
	dir := t.TempDir()
	a, err := New(Options{DataDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Fatalf("data directory mode %v", st.Mode().Perm())
	}
	if p, err := a.AllowList(); err != nil || len(p.Services) != 0 {
		t.Fatalf("no file: %+v %v", p, err)
	}
	if err := a.SetAllowList(wire.Policy{Services: []string{"nginx"}}); err != nil {
		t.Fatal(err)
	}
	if p, err := a.AllowList(); err != nil || len(p.Services) != 1 {
		t.Fatalf("written: %+v %v", p, err)
	}
	os.Chmod(a.AllowPath(), 0o666)
	if _, err := a.AllowList(); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("world-writable allow-list: %v", err)
	}
	os.Remove(a.AllowPath())
	os.Symlink(filepath.Join(dir, "agent-identity.pem"), a.AllowPath())
	if _, err := a.AllowList(); err == nil {
		t.Fatal("a symbolic link was read as the allow-list")
	}
	if err := a.SetAllowList(wire.Policy{Scripts: []wire.Script{{Name: "x", Command: "relative/x"}}}); err == nil {
		t.Fatal("a relative command was written")
	}
	if err := checkScript("/bin/sh"); err != nil {
		t.Fatalf("/bin/sh: %v", err)
	}
	w := filepath.Join(dir, "w.sh")
	os.WriteFile(w, []byte("#!/bin/sh\n"), 0o777)
	os.Chmod(w, 0o777)
	if err := checkScript(w); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("world-writable script: %v", err)
	}
}

// TestFolderAllowList: folders are absolute paths; only a listed folder
// (after cleaning) may be sized, not its parent nor a sibling reached
// through "..".
func TestFolderAllowList(t *testing.T) {
	if _, err := ParseAllowList([]byte("folders: [logs]\n")); err == nil || !strings.Contains(err.Error(), `folders: "logs" must be an absolute path`) {
		t.Fatalf("a relative folder: %v", err)
	}
	p, err := ParseAllowList([]byte("folders: [/srv/exchange/logs/]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for folder, want := range map[string]bool{
		"/srv/exchange/logs": true, "/srv/exchange/logs/.": true,
		"/srv/exchange": false, "/srv/exchange/logs/../db": false, "/srv/exchange/logs/sub": false, "logs": false, "": false,
	} {
		if got := allowsFolder(p, folder); got != want {
			t.Errorf("allowsFolder(%q) = %v, want %v", folder, got, want)
		}
	}
}
