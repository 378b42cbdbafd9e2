package config

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Agent is one Outpost agent the box polls (under `agents:`): a server
// running `outpost agent run`, and what the box may ask it to do.
type Agent struct {
	// Name is how checks (target:) and `outpost agent pair-code` refer
	// to it.
	Name string `yaml:"name"`
	// Address is host:port where the agent listens; empty means the
	// address it paired from, with the port it reported.
	Address string `yaml:"address"`
	// Device is the configured device the agent runs on; healing's
	// agent_restart names agents by device. Default: the agent's name.
	Device string `yaml:"device"`
	// Services are the Windows services or systemd units the box may
	// restart, start or stop there.
	Services []string `yaml:"services"`
	// Scripts are the programs the box may run there, by name.
	Scripts []AgentScript `yaml:"scripts"`

	line int
}

// AgentScript is an allow-listed program on an agent, run without a shell.
type AgentScript struct {
	Name    string   `yaml:"name"`
	Command string   `yaml:"command"`
	Args    []string `yaml:"args"`
}

var (
	agentNameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	agentServiceRE = regexp.MustCompile(`^[A-Za-z0-9_.@:$ -]{1,256}$`)
)

// Agent returns the configured agent with that name, or nil.
func (c *Config) Agent(name string) *Agent {
	for i := range c.Agents {
		if c.Agents[i].Name == name {
			return &c.Agents[i]
		}
	}
	return nil
}

// validateAgents checks the agents: section; root locates entries.
func (c *Config) validateAgents(d *decoder, root *yaml.Node) {
	if seq := findKey(root, "agents"); seq != nil && seq.Kind == yaml.SequenceNode {
		for i, n := range seq.Content {
			if i < len(c.Agents) {
				c.Agents[i].line = n.Line
			}
		}
	}
	seen := map[string]bool{}
	for i := range c.Agents {
		a := &c.Agents[i]
		path := fmt.Sprintf("agents[%d]", i)
		fail := func(field, format string, args ...any) {
			d.errs = append(d.errs, &Error{File: c.File, Line: a.line, Field: path + "." + field, Msg: fmt.Sprintf(format, args...)})
		}
		switch {
		case a.Name == "":
			fail("name", "is required")
		case !agentNameRE.MatchString(a.Name):
			fail("name", "%q is not a valid agent name (letters, digits, '_', '-', '.')", a.Name)
		case seen[a.Name]:
			fail("name", "%q is used twice", a.Name)
		}
		seen[a.Name] = true
		if a.Address != "" {
			if _, port, err := net.SplitHostPort(a.Address); err != nil || port == "" {
				fail("address", "%q is not host:port (e.g. 192.0.2.10:8471)", a.Address)
			}
		}
		if a.Device != "" && c.Device(a.Device) == nil {
			fail("device", "%q is not a configured device", a.Device)
		}
		for j, s := range a.Services {
			if !agentServiceRE.MatchString(s) || strings.HasPrefix(s, "-") {
				fail(fmt.Sprintf("services[%d]", j), "%q is not a service or unit name", s)
			}
		}
		names := map[string]bool{}
		for j, s := range a.Scripts {
			sp := fmt.Sprintf("scripts[%d]", j)
			switch {
			case s.Name == "":
				fail(sp+".name", "is required")
			case names[s.Name]:
				fail(sp+".name", "%q is used twice", s.Name)
			}
			names[s.Name] = true
			// A relative command would be looked up on the agent's PATH:
			// the allow-list must say exactly which program runs.
			if !filepath.IsAbs(s.Command) && !isWindowsAbs(s.Command) {
				fail(sp+".command", "%q must be an absolute path on the agent's machine", s.Command)
			}
		}
	}
}

func isWindowsAbs(p string) bool {
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') &&
		((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z'))
}
