package checks

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity is how much an incident of a check matters (its
// `labels.severity`), least to most: info, warning, critical; Rank and
// Compare order them. It is a string type, so JSON and YAML write and
// read it as its name (config, stored incidents, notify state and the
// phone home protocol keep the same words) and decoding takes any word:
// config validation (Validate), not the decoder, rejects a bad one, with
// the file, line and field. The empty value means "not set" (config
// defaults it).
type Severity string

// The severities a check can be labelled with.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Severities lists the severities, least severe first.
var Severities = []Severity{SeverityInfo, SeverityWarning, SeverityCritical}

// ParseSeverity reads a severity by name. The error is the one config
// shows for a bad `labels.severity`, `defaults.severity` or policy
// `severities`: `"x" is not a severity (one of info, warning, critical)`.
func ParseSeverity(s string) (Severity, error) {
	names := make([]string, len(Severities))
	for i, v := range Severities {
		if string(v) == s {
			return v, nil
		}
		names[i] = string(v)
	}
	return "", fmt.Errorf("%q is not a severity (one of %s)", s, strings.Join(names, ", "))
}

// Validate reports whether s is one of Severities (ParseSeverity's error
// if not; the empty severity is not valid).
func (s Severity) Validate() error {
	_, err := ParseSeverity(string(s))
	return err
}

// String returns the severity's name.
func (s Severity) String() string { return string(s) }

// Rank orders severities by their place in Severities: info 1 < warning
// 2 < critical 3. A severity that is not set or not valid ranks with
// info, the least: config gives every check a valid one, and pages have
// always sorted anything else with info.
func (s Severity) Rank() int { return max(slices.Index(Severities, s)+1, 1) }

// Compare is -1, 0 or +1 as s ranks below, with or above o.
func (s Severity) Compare(o Severity) int { return cmp.Compare(s.Rank(), o.Rank()) }
