package sysinfo

import (
	"sort"
	"strings"

	"outpost/checks/agent/wire"
)

// osRelease parses /etc/os-release.
func osRelease(data string) map[string]string {
	kv := map[string]string{}
	for _, line := range strings.Split(data, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		kv[k] = strings.Trim(v, `"'`)
	}
	return kv
}

// parseDpkg reads "status<TAB>name<TAB>version<TAB>publisher" lines,
// keeping installed packages ("ii").
func parseDpkg(out string) []wire.App {
	var apps []wire.App
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 3 || !strings.HasPrefix(f[0], "ii") {
			continue
		}
		a := wire.App{Name: f[1], Version: f[2]}
		if len(f) > 3 && f[3] != "(none)" {
			a.Publisher = f[3]
		}
		apps = append(apps, a)
	}
	sort.Slice(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name })
	return apps
}

// parseAptSim reads `apt-get -s upgrade`'s "Inst pkg [old] (new repo)"
// lines as pending upgrades.
func parseAptSim(out string) []wire.Patch {
	var ps []wire.Patch
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(line, "Inst ")
		if !ok {
			continue
		}
		name, rest, _ := strings.Cut(rest, " ")
		p := wire.Patch{ID: name, Pending: true}
		if i := strings.Index(rest, "("); i >= 0 {
			p.Description = "upgrade to " + strings.Fields(rest[i+1:])[0]
		}
		ps = append(ps, p)
	}
	return ps
}
