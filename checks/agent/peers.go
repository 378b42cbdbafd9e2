package agent

import (
	"outpost/appliance/config"
	"outpost/checks/agent/wire"
)

// PeersFromConfig turns the config's agents: section into Peers for
// SetPeers (the daemon calls it on start and on every config reload).
func PeersFromConfig(cfg *config.Config) []Peer {
	out := make([]Peer, 0, len(cfg.Agents))
	for _, a := range cfg.Agents {
		p := Peer{Name: a.Name, Address: a.Address, Device: a.Device, Services: a.Services}
		for _, s := range a.Scripts {
			p.Scripts = append(p.Scripts, wire.Script{Name: s.Name, Command: s.Command, Args: s.Args})
		}
		out = append(out, p)
	}
	return out
}
