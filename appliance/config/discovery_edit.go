package config

import (
	"fmt"
	"net/netip"

	"go.yaml.in/yaml/v3"
)

// SetDiscoverySubnet lists cidr in the discovery section of raw with
// enabled as given (adding the section and the subnet when missing);
// the rest of the section (rate, credentials) is kept as written.
func SetDiscoverySubnet(raw []byte, cidr string, enabled bool) ([]byte, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery: %q is not a CIDR subnet (e.g. 192.0.2.0/24)", ErrEditInvalid, cidr)
	}
	p = p.Masked()
	return editDoc(raw, func(root *yaml.Node) error {
		sec := mapNode(root, "discovery")
		if sec == nil || sec.Kind != yaml.MappingNode {
			if sec != nil && sec.Tag != "!!null" {
				return fmt.Errorf("%w: discovery: is not a mapping", ErrEditInvalid)
			}
			sec = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			setMapNode(root, "discovery", sec)
		}
		subs := mapNode(sec, "subnets")
		if subs == nil || subs.Kind != yaml.SequenceNode {
			subs = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			setMapNode(sec, "subnets", subs)
		}
		val := "false"
		if enabled {
			val = "true"
		}
		for _, s := range subs.Content {
			q, err := netip.ParsePrefix(mapValue(s, "cidr"))
			if err != nil || q.Masked() != p {
				continue
			}
			if n := mapNode(s, "enabled"); n != nil {
				n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!bool", val
			} else {
				s.Content = append(s.Content, scalar("!!str", "enabled"), scalar("!!bool", val))
			}
			return nil
		}
		subs.Content = append(subs.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle,
			Content: []*yaml.Node{scalar("!!str", "cidr"), scalar("!!str", p.String()), scalar("!!str", "enabled"), scalar("!!bool", val)}})
		return nil
	})
}

// AppendEntries adds entries (each marshalled as YAML) to the top-level
// sequence section of raw (devices, checks), making it when missing.
func AppendEntries(raw []byte, section string, entries []any) ([]byte, error) {
	return editDoc(raw, func(root *yaml.Node) error {
		seq := mapNode(root, section)
		if seq == nil || seq.Kind != yaml.SequenceNode {
			if seq != nil && seq.Tag != "!!null" {
				return fmt.Errorf("%w: %s: is not a list", ErrEditInvalid, section)
			}
			seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			setMapNode(root, section, seq)
		}
		for _, e := range entries {
			var n yaml.Node
			if err := n.Encode(e); err != nil {
				return fmt.Errorf("%s: %w", section, err)
			}
			seq.Content = append(seq.Content, &n)
		}
		return nil
	})
}

func scalar(tag, v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v} }

// setMapNode sets key to val in mapping m, adding it when missing.
func setMapNode(m *yaml.Node, key string, val *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = val
			return
		}
	}
	m.Content = append(m.Content, scalar("!!str", key), val)
}
