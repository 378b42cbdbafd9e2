//go:build !linux

package checks

import "context"

func readCPUTimes() (cpuTimes, int, error)              { return cpuTimes{}, 0, errNotSupported }
func readLoadavg() (string, bool)                       { return "", false }
func readMeminfo() (map[string]uint64, error)           { return nil, errNotSupported }
func readMountPoints() ([]string, error)                { return nil, errNotSupported }
func listProcesses(context.Context) ([]procInfo, error) { return nil, errNotSupported }
