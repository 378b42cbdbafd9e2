package config

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Edits of a config's text, as the web UI makes them: each takes the raw
// YAML of the config in force and returns the edited raw YAML, keeping the
// comments and the order of the rest of the file. The caller validates
// the result like a file (ParseEdited) and puts it in force.

// CheckEdit is a check as the UI's form edits it.
type CheckEdit struct {
	ID, Kind, Target, Interval, Timeout string
	Device, Group, Severity             string
	// Options is the check's options as YAML (e.g. `{body_contains: ok}`).
	Options string
}

// ErrEditInvalid wraps the config errors of an edit that was refused.
var ErrEditInvalid = errors.New("the change does not validate")

// EditableSections are the top-level config sections the web UI edits as
// YAML text.
var EditableSections = []string{"notify", "maintenance", "incidents", "healing"}

// IsEditableSection says whether name is one of EditableSections.
func IsEditableSection(name string) bool { return slices.Contains(EditableSections, name) }

// EditCheck replaces check orig in raw with e, or adds e when orig is "".
func EditCheck(raw []byte, orig string, e CheckEdit) ([]byte, error) {
	return editChecks(raw, func(checks *yaml.Node) error {
		n, err := checkNode(e)
		if err != nil {
			return err
		}
		if orig == "" {
			checks.Content = append(checks.Content, n)
			return nil
		}
		for i, c := range checks.Content {
			if mapValue(c, "id") == orig {
				checks.Content[i] = n
				return nil
			}
		}
		return fmt.Errorf("no check %q in the config", orig)
	})
}

// DeleteCheck removes check id from raw.
func DeleteCheck(raw []byte, id string) ([]byte, error) {
	return editChecks(raw, func(checks *yaml.Node) error {
		for i, c := range checks.Content {
			if mapValue(c, "id") == id {
				checks.Content = append(checks.Content[:i], checks.Content[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("no check %q in the config", id)
	})
}

// ReplaceSection replaces the top-level section name of raw with text
// (YAML), adding it when raw has none; an empty text removes it. Which
// sections a user may edit is the caller's rule (EditableSections).
func ReplaceSection(raw []byte, name, text string) ([]byte, error) {
	var val *yaml.Node
	if strings.TrimSpace(text) != "" {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(text), &n); err != nil {
			return nil, fmt.Errorf("%w: %s: not valid YAML: %s", ErrEditInvalid, name, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if len(n.Content) > 0 {
			val = n.Content[0]
		}
	}
	return editDoc(raw, func(root *yaml.Node) error {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == name {
				if val == nil {
					root.Content = append(root.Content[:i], root.Content[i+2:]...)
				} else {
					root.Content[i+1] = val
				}
				return nil
			}
		}
		if val != nil {
			root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, val)
		}
		return nil
	})
}

// ParseEdited parses an edit's result for a config read from file,
// strictly like a file; its errors wrap ErrEditInvalid.
func ParseEdited(file string, raw []byte) (*Config, error) {
	name := file
	if name == "" {
		name = "config"
	}
	cfg, err := Parse(name, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEditInvalid, err)
	}
	cfg.File = file
	return cfg, nil
}

// CheckFormOf returns check id of raw as the UI's form shows it.
func CheckFormOf(raw []byte, id string) (CheckEdit, bool) {
	var doc yaml.Node
	if yaml.Unmarshal(raw, &doc) != nil || len(doc.Content) == 0 {
		return CheckEdit{}, false
	}
	checks := mapNode(doc.Content[0], "checks")
	if checks == nil {
		return CheckEdit{}, false
	}
	for _, c := range checks.Content {
		if mapValue(c, "id") != id {
			continue
		}
		e := CheckEdit{ID: id, Kind: mapValue(c, "kind"), Target: mapValue(c, "target"), Interval: mapValue(c, "interval"), Timeout: mapValue(c, "timeout")}
		if l := mapNode(c, "labels"); l != nil {
			e.Device, e.Group, e.Severity = mapValue(l, "device"), mapValue(l, "group"), mapValue(l, "severity")
		}
		if o := mapNode(c, "options"); o != nil {
			o.Style = yaml.FlowStyle
			if b, err := yaml.Marshal(o); err == nil {
				e.Options = strings.TrimSpace(string(b))
			}
		}
		return e, true
	}
	return CheckEdit{}, false
}

// SectionOf returns the top-level section name of raw as YAML ("" when
// raw does not have it).
func SectionOf(raw []byte, name string) string {
	var doc yaml.Node
	if yaml.Unmarshal(raw, &doc) != nil || len(doc.Content) == 0 {
		return ""
	}
	n := mapNode(doc.Content[0], name)
	if n == nil {
		return ""
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return ""
	}
	return buf.String()
}

func editChecks(raw []byte, change func(checks *yaml.Node) error) ([]byte, error) {
	return editDoc(raw, func(root *yaml.Node) error {
		checks := mapNode(root, "checks")
		if checks == nil {
			checks = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "checks"}, checks)
		}
		if checks.Kind != yaml.SequenceNode {
			return fmt.Errorf("checks: is not a list in the running config")
		}
		checks.Style = 0 // block style, so each check is on its own lines
		return change(checks)
	})
}

// editDoc changes raw's YAML tree and encodes it again.
func editDoc(raw []byte, change func(root *yaml.Node) error) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) == 0 {
		return nil, fmt.Errorf("the running config cannot be edited: %v", err)
	}
	if err := change(doc.Content[0]); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func checkNode(e CheckEdit) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	add := func(k, v string) {
		if strings.TrimSpace(v) == "" {
			return
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, &yaml.Node{Kind: yaml.ScalarNode, Value: strings.TrimSpace(v)})
	}
	add("id", e.ID)
	add("kind", e.Kind)
	add("target", e.Target)
	add("interval", e.Interval)
	add("timeout", e.Timeout)
	labels := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
	for _, kv := range [][2]string{{"device", e.Device}, {"group", e.Group}, {"severity", e.Severity}} {
		if strings.TrimSpace(kv[1]) != "" {
			labels.Content = append(labels.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kv[0]}, &yaml.Node{Kind: yaml.ScalarNode, Value: strings.TrimSpace(kv[1])})
		}
	}
	if len(labels.Content) > 0 {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "labels"}, labels)
	}
	if strings.TrimSpace(e.Options) != "" {
		var opts yaml.Node
		if err := yaml.Unmarshal([]byte(e.Options), &opts); err != nil || len(opts.Content) == 0 || opts.Content[0].Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%w: options: must be a YAML mapping such as {body_contains: Welcome}", ErrEditInvalid)
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "options"}, opts.Content[0])
	}
	return n, nil
}

func mapNode(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func mapValue(m *yaml.Node, key string) string {
	if n := mapNode(m, key); n != nil {
		return n.Value
	}
	return ""
}
