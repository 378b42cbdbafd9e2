//go:build !linux && !windows

package sysinfo

import (
	"context"
	"fmt"
	"runtime"

	"outpost/checks/agent/wire"
)

// unsupported answers every question with ErrUnsupported, so the agent
// still runs (pairing, commands refused) on an OS without a collector.
type unsupported struct{}

// New returns this machine's Host.
func New() Host { return unsupported{} }

func errOS() error { return fmt.Errorf("%s: %w", runtime.GOOS, ErrUnsupported) }

func (unsupported) Service(context.Context, string) (wire.Service, error) {
	return wire.Service{}, errOS()
}
func (unsupported) Volumes(context.Context, string) ([]wire.Volume, error) { return nil, errOS() }
func (unsupported) CPU(context.Context) (wire.CPU, error)                  { return wire.CPU{}, errOS() }
func (unsupported) Memory(context.Context) (wire.Memory, error)            { return wire.Memory{}, errOS() }
func (unsupported) Uptime(context.Context) (wire.Uptime, error)            { return wire.Uptime{}, errOS() }
func (unsupported) Processes(context.Context, string) (wire.ProcessList, error) {
	return wire.ProcessList{}, errOS()
}
func (unsupported) Events(context.Context, wire.EventQuery) (wire.EventBatch, error) {
	return wire.EventBatch{}, errOS()
}
func (unsupported) Perf(context.Context, wire.PerfQuery) (wire.PerfValue, error) {
	return wire.PerfValue{}, errOS()
}
func (unsupported) Inventory(context.Context) (wire.Inventory, error) {
	return wire.Inventory{}, errOS()
}
func (unsupported) ControlService(context.Context, string, string) (string, error) {
	return "", errOS()
}
