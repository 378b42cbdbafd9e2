package agent

import (
	"embed"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

//go:embed templates/*.yaml
var templateFS embed.FS

// TemplateNames lists the ready-made check sets (exchange, iis,
// sqlserver).
func TemplateNames() []string {
	ents, _ := templateFS.ReadDir("templates")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

var templateAgentRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// Template returns a ready-made check set as YAML for the named agent,
// to paste under the config's checks:.
func Template(name, agent string) (string, error) {
	data, err := templateFS.ReadFile(path.Join("templates", name+".yaml"))
	if err != nil {
		return "", fmt.Errorf("no template %q (one of %s)", name, strings.Join(TemplateNames(), ", "))
	}
	if !templateAgentRE.MatchString(agent) {
		return "", fmt.Errorf("%q is not an agent name", agent)
	}
	return strings.ReplaceAll(string(data), "AGENT", agent), nil
}
