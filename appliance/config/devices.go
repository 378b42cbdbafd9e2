package config

import (
	"fmt"

	"outpost/checks"
)

// Device and Agent are the site vocabulary's types (package checks), under
// the names the config's readers know them by.
type (
	Device = checks.Device
	Agent  = checks.Agent
)

func (c *Config) validateDevices(d *decoder) {
	checks.ValidateDevices(c.Devices, func(i int, field, format string, args ...any) {
		d.errs = append(d.errs, &Error{File: c.File, Line: lineAt(c.deviceLines, i), Field: fmt.Sprintf("devices[%d].%s", i, field), Msg: fmt.Sprintf(format, args...)})
	})
}

// Device returns the configured device with that name, or nil.
func (c *Config) Device(name string) *checks.Device {
	for i := range c.Devices {
		if c.Devices[i].Name == name {
			return &c.Devices[i]
		}
	}
	return nil
}

// Agent returns the configured agent with that name, or nil.
func (c *Config) Agent(name string) *checks.Agent {
	for i := range c.Agents {
		if c.Agents[i].Name == name {
			return &c.Agents[i]
		}
	}
	return nil
}

var _ checks.Env = (*Config)(nil)

// validateAgents checks the agents: section.
func (c *Config) validateAgents(d *decoder) {
	checks.ValidateAgents(c.Agents, c, func(i int, field, format string, args ...any) {
		d.errs = append(d.errs, &Error{File: c.File, Line: lineAt(c.agentLines, i), Field: fmt.Sprintf("agents[%d].%s", i, field), Msg: fmt.Sprintf(format, args...)})
	})
}

// lineAt is lines[i], or 0 when the entry was not located.
func lineAt(lines []int, i int) int {
	if i < len(lines) {
		return lines[i]
	}
	return 0
}
