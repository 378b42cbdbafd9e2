package checks

import (
	_ "embed"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Shipped log rules (docs/logs.md#shipped-rules): the rules an MSP
// expects on every site, ready for a log_match check to name with
// `options: {rule: NAME}`. They live in logrules.yaml, embedded, each
// with the documented message format it reads.

//go:embed logrules.yaml
var logRulesYAML []byte

// LogRule is one shipped rule.
type LogRule struct {
	Name    string   `yaml:"name"`
	Sets    []string `yaml:"sets"`
	Summary string   `yaml:"summary"`
	// Format names the message format the rule reads and where it is
	// documented.
	Format  string    `yaml:"format"`
	Options yaml.Node `yaml:"options"`
}

// logRules are the shipped rules, read once.
var logRules = mustLogRules(logRulesYAML)

func mustLogRules(b []byte) []LogRule {
	var rules []LogRule
	if err := yaml.Unmarshal(b, &rules); err != nil {
		panic(fmt.Sprintf("checks/logrules.yaml: %v", err))
	}
	seen := map[string]bool{}
	for _, r := range rules {
		if r.Name == "" || seen[r.Name] || r.Summary == "" || r.Format == "" || len(r.Sets) == 0 {
			panic(fmt.Sprintf("checks/logrules.yaml: rule %q needs a unique name, sets, a summary and a format", r.Name))
		}
		seen[r.Name] = true
	}
	return rules
}

// LogRules returns the shipped rules in file order.
func LogRules() []LogRule { return slices.Clone(logRules) }

// LogRuleNamed returns the shipped rule of that name.
func LogRuleNamed(name string) (LogRule, bool) {
	for _, r := range logRules {
		if r.Name == name {
			return r, true
		}
	}
	return LogRule{}, false
}

// LogRuleSets returns each set's rules by name, sets sorted.
func LogRuleSets() map[string][]string {
	out := map[string][]string{}
	for _, r := range logRules {
		for _, s := range r.Sets {
			out[s] = append(out[s], r.Name)
		}
	}
	return out
}

// logRuleNames lists the shipped rules for an error message.
func logRuleNames() string {
	names := make([]string, len(logRules))
	for i, r := range logRules {
		names[i] = r.Name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
