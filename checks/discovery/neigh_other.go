//go:build !linux

package discovery

import (
	"errors"
	"net/netip"
)

// readNeighbours is Linux only: elsewhere MACs are not read.
func readNeighbours() (map[netip.Addr]Neighbour, error) {
	return nil, errors.New("the neighbour table is read on Linux only")
}

// readNeighbours6 is Linux only.
func readNeighbours6() (map[netip.Addr]Neighbour, error) {
	return nil, errors.New("the neighbour table is read on Linux only")
}
