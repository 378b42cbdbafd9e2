package appliance

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"outpost/appliance/config"
)

// CheckEdit is a check as the UI's form edits it.
type CheckEdit struct {
	ID, Kind, Target, Interval, Timeout string
	Device, Group, Severity             string
	// Options is the check's options as YAML (e.g. `{body_contains: ok}`).
	Options string
}

// ErrConfigInvalid wraps the config errors of an edit that was refused.
var ErrConfigInvalid = errors.New("the change does not validate")

// EditCheck replaces check orig (or adds one when orig is empty) in the
// running config, validates the whole result exactly like a config file,
// and applies it as a new config version. Comments and the order of the
// rest of the file are kept.
func (a *Appliance) EditCheck(orig string, e CheckEdit, who string) error {
	return a.editConfig(who, func(checks *yaml.Node) error {
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

// DeleteCheck removes a check from the running config.
func (a *Appliance) DeleteCheck(id, who string) error {
	return a.editConfig(who, func(checks *yaml.Node) error {
		for i, c := range checks.Content {
			if mapValue(c, "id") == id {
				checks.Content = append(checks.Content[:i], checks.Content[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("no check %q in the config", id)
	})
}

// ConfigYAML returns the config in force, as YAML.
func (a *Appliance) ConfigYAML() []byte { return bytes.Clone(a.Config().Raw) }

func (a *Appliance) editConfig(who string, change func(checks *yaml.Node) error) error {
	return a.editDoc(who, func(root *yaml.Node) error {
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

// editDoc changes the running config's YAML tree, validates the result
// exactly like a config file and applies it as a new version.
func (a *Appliance) editDoc(who string, change func(root *yaml.Node) error) error {
	a.editMu.Lock()
	defer a.editMu.Unlock()
	cur := a.Config()
	var doc yaml.Node
	if err := yaml.Unmarshal(cur.Raw, &doc); err != nil || len(doc.Content) == 0 {
		return fmt.Errorf("the running config cannot be edited: %v", err)
	}
	if err := change(doc.Content[0]); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	name := cur.File
	if name == "" {
		name = "config"
	}
	cfg, err := config.Parse(name, buf.Bytes())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfigInvalid, err)
	}
	cfg.File = cur.File
	return a.applySource(cfg, "web UI by "+who)
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
			return nil, fmt.Errorf("%w: options: must be a YAML mapping such as {body_contains: Welcome}", ErrConfigInvalid)
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

// CheckForm returns a configured check as the UI's form shows it.
func (a *Appliance) CheckForm(id string) (CheckEdit, bool) {
	cfg := a.Config()
	var doc yaml.Node
	if yaml.Unmarshal(cfg.Raw, &doc) != nil || len(doc.Content) == 0 {
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

// EditableSections are the top-level config sections the web UI edits as
// YAML text.
var EditableSections = []string{"notify", "maintenance", "incidents", "healing"}

// SectionYAML returns one top-level section of the running config as YAML
// ("" when the config does not have it).
func (a *Appliance) SectionYAML(name string) string {
	var doc yaml.Node
	if yaml.Unmarshal(a.Config().Raw, &doc) != nil || len(doc.Content) == 0 {
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

// EditSection replaces one top-level section with text (YAML), validates
// the whole config like a file and applies it as a new version. An empty
// text removes the section.
func (a *Appliance) EditSection(name, text, who string) error {
	if !contains(EditableSections, name) {
		return fmt.Errorf("section %q cannot be edited here", name)
	}
	var val *yaml.Node
	if strings.TrimSpace(text) != "" {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(text), &n); err != nil {
			return fmt.Errorf("%w: %s: not valid YAML: %s", ErrConfigInvalid, name, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if len(n.Content) > 0 {
			val = n.Content[0]
		}
	}
	return a.editDoc(who, func(root *yaml.Node) error {
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
