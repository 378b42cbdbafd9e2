package discovery

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"outpost/checks"
)

// Suggestion is the config a technician may paste for one host: a device
// and the checks it can answer, made only from what it answered in the
// sweep (no SNMP check for a host whose agent did not answer, no tcp
// check on a closed port).
type Suggestion struct {
	Device SuggestedDevice  `yaml:"device" json:"device"`
	Checks []SuggestedCheck `yaml:"checks" json:"checks"`
}

// SuggestedDevice is a `devices:` entry.
type SuggestedDevice struct {
	Name    string            `yaml:"name" json:"name"`
	Address string            `yaml:"address" json:"address"`
	Class   string            `yaml:"class,omitempty" json:"class,omitempty"`
	SNMP    map[string]string `yaml:"snmp,omitempty" json:"snmp,omitempty"`
}

// SuggestedCheck is a `checks:` entry.
type SuggestedCheck struct {
	ID       string            `yaml:"id" json:"id"`
	Kind     string            `yaml:"kind" json:"kind"`
	Target   string            `yaml:"target" json:"target"`
	Interval string            `yaml:"interval" json:"interval"`
	Labels   map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

var nameChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// deviceName is a config-safe name: the host's DNS or SNMP name, else its
// class and address.
func deviceName(h Host) string {
	n := ""
	if len(h.Names) > 0 {
		n = strings.SplitN(h.Names[0], ".", 2)[0]
	} else if h.SNMP != nil && h.SNMP.Name != "" {
		n = strings.SplitN(h.SNMP.Name, ".", 2)[0]
	}
	n = strings.Trim(nameChars.ReplaceAllString(n, "-"), "-")
	if n == "" {
		n = h.Class + "-" + strings.ReplaceAll(h.IP.String(), ".", "-")
	}
	if len(n) > 40 {
		n = n[:40]
	}
	return n
}

// configClass maps a sweep class to a checks.DeviceClasses value.
func configClass(c string) string {
	if slices.Contains(checks.DeviceClasses, c) {
		return c
	}
	return "other"
}

// Suggest makes the suggestions for the hosts of a sweep; snmp are the
// credentials the sweep used (written into the devices, since the
// technician typed them), nil for none.
func Suggest(hosts []Host, snmp *checks.SNMP) []Suggestion {
	var out []Suggestion
	used := map[string]int{}
	for _, h := range hosts {
		if h.Self {
			continue
		}
		name := deviceName(h)
		if used[name]++; used[name] > 1 {
			name = fmt.Sprintf("%s-%d", name, used[name])
		}
		s := Suggestion{Device: SuggestedDevice{Name: name, Address: h.IP.String(), Class: configClass(h.Class)}}
		chk := func(suffix, kind, target, interval string) {
			c := SuggestedCheck{ID: name + "-" + suffix, Kind: kind, Target: target, Interval: interval}
			if target != name {
				c.Labels = map[string]string{"device": name}
			}
			s.Checks = append(s.Checks, c)
		}
		if h.SNMP != nil && snmp != nil {
			s.Device.SNMP = snmpYAML(snmp)
			switch {
			case h.SNMP.Has("printer"):
				chk("supplies", "snmp_printer", name, "15m")
			case h.SNMP.Has("ups") || h.SNMP.Has("apc_ups"):
				chk("battery", "snmp_ups", name, "1m")
			}
			if h.SNMP.Interfaces > 0 && (h.Class == "switch" || h.Class == "router" || h.Class == "firewall") {
				chk("interfaces", "snmp_interfaces", name, "1m")
			}
			if h.SNMP.Has("host_resources") && (h.Class == "server" || h.Class == "workstation" || h.Class == "nas") {
				chk("storage", "snmp_storage", name, "5m")
			}
		}
		if h.ICMP {
			chk("ping", "ping", h.IP.String(), "1m")
		}
		if h.Class == "server" || h.Class == "nas" || !h.ICMP {
			for _, p := range h.OpenPorts {
				if !h.ICMP || p == 22 || p == 443 || p == 445 || p == 3389 || p == 80 {
					chk("tcp-"+strconv.Itoa(p), "tcp", net.JoinHostPort(h.IP.String(), strconv.Itoa(p)), "1m")
				}
				if !h.ICMP {
					break // one open port proves it is up
				}
			}
		}
		out = append(out, s)
	}
	return out
}

func snmpYAML(c *checks.SNMP) map[string]string {
	m := map[string]string{}
	if c.Version != "" && c.Version != "2c" {
		m["version"] = c.Version
	}
	if c.Port != 0 && c.Port != checks.DefaultSNMPPort {
		m["port"] = strconv.Itoa(c.Port)
	}
	if c.Version == "3" {
		m["user"] = c.User
		for k, v := range map[string]string{"auth_protocol": c.AuthProtocol, "auth_password": c.AuthPassword.Reveal(),
			"priv_protocol": c.PrivProtocol, "priv_password": c.PrivPassword.Reveal(), "context": c.Context} {
			if v != "" {
				m[k] = v
			}
		}
	} else {
		m["community"] = c.Community.Reveal()
	}
	return m
}

// SuggestYAML renders suggestions as `devices:` and `checks:` sections.
func SuggestYAML(ss []Suggestion) ([]byte, error) {
	var doc struct {
		Devices []SuggestedDevice `yaml:"devices"`
		Checks  []SuggestedCheck  `yaml:"checks"`
	}
	for _, s := range ss {
		doc.Devices = append(doc.Devices, s.Device)
		doc.Checks = append(doc.Checks, s.Checks...)
	}
	return yaml.Marshal(doc)
}
