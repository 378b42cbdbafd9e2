package agent

import (
	"outpost/checks"
	"outpost/checks/agent/wire"
)

// PeersFromConfig turns the config's agents: section into Peers for
// SetPeers (the daemon calls it on start and on every config reload).
func PeersFromConfig(agents []checks.Agent) []Peer {
	out := make([]Peer, 0, len(agents))
	for _, a := range agents {
		p := Peer{Name: a.Name, Address: a.Address, Device: a.Device, Services: a.Services}
		for _, s := range a.Scripts {
			p.Scripts = append(p.Scripts, wire.Script{Name: s.Name, Command: s.Command, Args: s.Args})
		}
		out = append(out, p)
	}
	return out
}
