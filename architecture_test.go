package main

import (
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// allowedImports is the import graph between Outpost's own packages
// (production code, not tests), as docs/architecture.md draws it. A new
// edge fails TestImportEdges: either it belongs (add it here and say why
// in docs/architecture.md) or the code should go through the vocabulary.
var allowedImports = map[string][]string{
	"outpost":                             {"appliance/cli"},
	"outpost/appliance/cli":               {"appliance", "appliance/agent", "appliance/config", "appliance/hq", "appliance/incidents", "appliance/phonehome", "appliance/phonehome/wire", "appliance/report", "appliance/scheduler", "checks", "checks/agent", "checks/backup", "checks/discovery", "checks/registry", "checks/snmp", "firmware/bundle", "firmware/identity", "firmware/provision", "firmware/usb", "healing", "notify"},
	"outpost/appliance":                   {"appliance/config", "appliance/incidents", "appliance/kinds", "appliance/phonehome", "appliance/phonehome/summary", "appliance/phonehome/wire", "appliance/private", "appliance/report", "appliance/scheduler", "checks", "checks/agent", "checks/agent/wire", "checks/backup", "checks/clock", "checks/discovery", "checks/forecast", "checks/incident", "checks/snmp", "checks/syslog", "firmware/bundle", "firmware/identity", "firmware/provision", "firmware/update", "firmware/usb", "healing", "notify", "store", "ui"},
	"outpost/appliance/kinds":             {"appliance/report", "checks", "checks/agent", "checks/backup", "checks/snmp", "checks/syslog", "healing", "notify"},
	"outpost/appliance/agent":             {"appliance/private", "checks/agent/sysinfo", "checks/agent/wire", "firmware/bundle", "firmware/identity", "firmware/update"},
	"outpost/appliance/config":            {"checks"},
	"outpost/appliance/hq":                {"appliance/phonehome/wire", "checks", "checks/clock", "checks/incident", "notify", "ui/hq"},
	"outpost/ui/hq":                       {"appliance/phonehome/wire", "checks/clock", "ui/login"},
	"outpost/appliance/incidents":         {"appliance/config", "checks", "checks/clock", "checks/incident", "healing"},
	"outpost/appliance/phonehome":         {"appliance/phonehome/wire", "checks/clock", "firmware/bundle"},
	"outpost/appliance/phonehome/summary": {"appliance/config", "appliance/phonehome/wire", "checks", "checks/agent/wire", "checks/clock", "checks/incident"},
	"outpost/appliance/scheduler":         {"checks", "checks/clock"},
	"outpost/checks":                      {"checks/agent/wire", "checks/clock", "checks/forecast", "checks/registry"},
	"outpost/checks/incident":             {"checks"},
	"outpost/checks/backup":               {"checks", "checks/clock"},
	"outpost/appliance/report":            {"checks", "checks/forecast", "checks/incident", "notify"},
	"outpost/firmware/update":             {"firmware/bundle", "firmware/identity"},
	"outpost/checks/discovery":            {"checks"},
	"outpost/checks/syslog":               {"checks", "checks/clock"},
	"outpost/checks/snmp":                 {"checks", "checks/clock"},
	"outpost/checks/agent":                {"checks", "checks/agent/sysinfo", "checks/agent/wire", "checks/clock"},
	"outpost/checks/agent/sysinfo":        {"checks/agent/wire"},
	"outpost/firmware/identity":           {"appliance/phonehome/wire"},
	"outpost/firmware/bundle":             {"firmware/identity"},
	"outpost/firmware/provision":          {"checks/clock", "firmware/bundle", "firmware/identity"},
	"outpost/firmware/usb":                {"checks/clock", "firmware/bundle", "firmware/provision"},
	"outpost/healing":                     {"checks", "checks/clock", "checks/registry"},
	"outpost/notify":                      {"checks", "checks/clock", "checks/incident", "checks/registry"},
	"outpost/store":                       {"checks", "checks/clock"},
	"outpost/ui":                          {"checks", "checks/clock", "checks/incident", "ui/login"},
}

// knownDebt are allowed edges that break the layering: an adapter
// importing another adapter. They are listed so nobody adds more; each
// goes when its code talks through the vocabulary instead. None is left:
// an adapter that needs another declares the small interface it uses (or
// finds the contract in checks) and the wiring passes the other in.
var knownDebt = map[string]string{}

// importGraph is the union of the import graphs the Linux and the
// Windows builds see, so an edge in a _windows.go file is held to the
// same rules.
func importGraph(t *testing.T) map[string][]string {
	t.Helper()
	g := map[string][]string{}
	for _, goos := range []string{"linux", "windows"} {
		cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}", "./...")
		cmd.Env = append(os.Environ(), "GOOS="+goos)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (GOOS=%s): %v", goos, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			pkg, imps, _ := strings.Cut(line, "|")
			own := g[pkg]
			for _, imp := range strings.Fields(imps) {
				if rest, ok := strings.CutPrefix(imp, "outpost/"); ok && !slices.Contains(own, rest) {
					own = append(own, rest)
				}
			}
			sort.Strings(own)
			g[pkg] = own
		}
	}
	return g
}

func TestImportEdges(t *testing.T) {
	g := importGraph(t)
	for pkg, imps := range g {
		for _, imp := range imps {
			if !slices.Contains(allowedImports[pkg], imp) {
				t.Errorf("new import edge %s -> outpost/%s: allowed from %s are %v (architecture_test.go, docs/architecture.md)", pkg, imp, pkg, allowedImports[pkg])
			}
		}
	}
	for pkg, imps := range allowedImports {
		for _, imp := range imps {
			if !slices.Contains(g[pkg], imp) {
				t.Errorf("allowed edge %s -> outpost/%s no longer exists: remove it from architecture_test.go", pkg, imp)
			}
		}
	}
	for edge := range knownDebt {
		pkg, imp, _ := strings.Cut(edge, " -> ")
		if !slices.Contains(g[pkg], imp) {
			t.Errorf("known debt %s is paid: remove it from knownDebt", edge)
		}
	}
}

// Only the command line imports the wiring package, and only main the
// command line.
func TestOnlyTheCLIImportsTheWiring(t *testing.T) {
	for pkg, imps := range importGraph(t) {
		if slices.Contains(imps, "appliance") && pkg != "outpost/appliance/cli" {
			t.Errorf("%s imports outpost/appliance, the wiring", pkg)
		}
		if slices.Contains(imps, "appliance/cli") && pkg != "outpost" {
			t.Errorf("%s imports outpost/appliance/cli", pkg)
		}
	}
}
