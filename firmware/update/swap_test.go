package update

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplaceAside runs the Windows swap on files: the installed binary
// renamed aside, the new one renamed into its place, the aside copy gone
// at the next clean; a failed second rename puts the installed binary
// back.
func TestReplaceAside(t *testing.T) {
	dir := t.TempDir()
	bin, staged := filepath.Join(dir, "outpost.exe"), filepath.Join(dir, ".outpost-stage-1.exe")
	os.WriteFile(bin, []byte("old"), 0o755)
	os.WriteFile(staged, []byte("new"), 0o755)
	if err := replace(staged, bin, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(bin); string(got) != "new" {
		t.Fatalf("installed: %q", got)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, asidePattern))
	if len(aside) != 1 || !strings.HasSuffix(aside[0], ".exe") {
		t.Fatalf("aside: %v", aside)
	}
	if got, _ := os.ReadFile(aside[0]); string(got) != "old" {
		t.Fatalf("aside holds %q", got)
	}
	cleanAside(dir)
	if left, _ := filepath.Glob(filepath.Join(dir, asidePattern)); len(left) != 0 {
		t.Fatalf("left aside: %v", left)
	}
	// The new binary is missing: the installed one is put back.
	if err := replace(filepath.Join(dir, "missing.exe"), bin, true); err == nil {
		t.Fatal("replacing with a missing file worked")
	}
	if got, _ := os.ReadFile(bin); string(got) != "new" {
		t.Fatalf("after a failed swap the installed binary is %q", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, asidePattern)); len(left) != 0 {
		t.Fatalf("left aside after a failed swap: %v", left)
	}
}

func TestWindowsNames(t *testing.T) {
	if got := PrevPath(`C:\Program Files\Outpost\outpost.exe`, "windows"); got != `C:\Program Files\Outpost\outpost.prev.exe` {
		t.Errorf("windows prev: %s", got)
	}
	if got := PrevPath("/usr/local/lib/outpost/outpost", "linux"); got != "/usr/local/lib/outpost/outpost.prev" {
		t.Errorf("linux prev: %s", got)
	}
	if exeSuffix("windows") != ".exe" || exeSuffix("linux") != "" {
		t.Error("exe suffix")
	}
}
