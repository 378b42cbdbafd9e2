//go:build windows

package sysinfo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/yusufpapurcu/wmi"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"outpost/checks/agent/wire"
)

// Windows reads WMI, the registry and the service manager.
type Windows struct{}

var _ Host = Windows{}

// New returns this machine's Host.
func New() Host { return Windows{} }

// query runs a WQL query with ctx's deadline. COM calls cannot be
// interrupted, so a stuck WMI provider leaves its goroutine behind but
// the check still answers in time.
func query(ctx context.Context, class, wql string, dst any) error {
	done := make(chan error, 1)
	go func() {
		c := &wmi.Client{}
		done <- c.Query(wql, dst)
	}()
	select {
	case err := <-done:
		return explainWMI(class, err)
	case <-ctx.Done():
		return fmt.Errorf("WMI query on %s: %w", class, ctx.Err())
	}
}

// Service asks Win32_Service.
func (Windows) Service(ctx context.Context, name string) (wire.Service, error) {
	var rows []win32Service
	wql := "SELECT Name, DisplayName, State, StartMode FROM Win32_Service WHERE Name = " + wqlQuote(name) + " OR DisplayName = " + wqlQuote(name)
	if err := query(ctx, "Win32_Service", wql, &rows); err != nil {
		return wire.Service{}, err
	}
	return serviceFromWMI(name, rows), nil
}

// Volumes asks Win32_LogicalDisk.
func (Windows) Volumes(ctx context.Context, name string) ([]wire.Volume, error) {
	var rows []win32LogicalDisk
	if err := query(ctx, "Win32_LogicalDisk", "SELECT DeviceID, DriveType, FileSystem, VolumeName, Size, FreeSpace FROM Win32_LogicalDisk WHERE DriveType = 3", &rows); err != nil {
		return nil, err
	}
	return volumesFromWMI(name, rows)
}

// CPU asks Win32_Processor.LoadPercentage (Windows' own 1 s average).
func (Windows) CPU(ctx context.Context) (wire.CPU, error) {
	var rows []win32Processor
	if err := query(ctx, "Win32_Processor", "SELECT Name, LoadPercentage, NumberOfLogicalProcessors FROM Win32_Processor", &rows); err != nil {
		return wire.CPU{}, err
	}
	return cpuFromWMI(rows)
}

func osRows(ctx context.Context) ([]win32OperatingSystem, error) {
	var rows []win32OperatingSystem
	err := query(ctx, "Win32_OperatingSystem", "SELECT Caption, Version, BuildNumber, LastBootUpTime, TotalVisibleMemorySize, FreePhysicalMemory FROM Win32_OperatingSystem", &rows)
	return rows, err
}

// Memory asks Win32_OperatingSystem.
func (Windows) Memory(ctx context.Context) (wire.Memory, error) {
	rows, err := osRows(ctx)
	if err != nil {
		return wire.Memory{}, err
	}
	return memoryFromWMI(rows)
}

// Uptime asks Win32_OperatingSystem.LastBootUpTime.
func (Windows) Uptime(ctx context.Context) (wire.Uptime, error) {
	rows, err := osRows(ctx)
	if err != nil {
		return wire.Uptime{}, err
	}
	return uptimeFromWMI(rows, time.Now())
}

// Processes asks Win32_Process.
func (Windows) Processes(ctx context.Context, name string) (wire.ProcessList, error) {
	var rows []win32Process
	exe := name
	if !strings.HasSuffix(strings.ToLower(exe), ".exe") {
		exe += ".exe"
	}
	wql := "SELECT Name, ProcessId FROM Win32_Process WHERE Name = " + wqlQuote(exe) + " OR Name = " + wqlQuote(name)
	if err := query(ctx, "Win32_Process", wql, &rows); err != nil {
		return wire.ProcessList{}, err
	}
	return processesFromWMI(name, rows), nil
}

// Events asks Win32_NTLogEvent for records after the cursor; a path
// reads a plain log file instead.
func (Windows) Events(ctx context.Context, q wire.EventQuery) (wire.EventBatch, error) {
	f, err := newEventFilter(q)
	if err != nil {
		return wire.EventBatch{}, err
	}
	if strings.ContainsAny(q.Log, `\/`) {
		return tailFile(ctx, q.Log, f, time.Now())
	}
	wql, after, err := eventLogWQL(q)
	if err != nil {
		return wire.EventBatch{}, err
	}
	if q.Cursor == "" {
		var rows []struct{ RecordNumber uint32 }
		if err := query(ctx, "Win32_NTLogEvent", wql, &rows); err != nil {
			return wire.EventBatch{}, err
		}
		var last uint32
		for _, r := range rows {
			last = max(last, r.RecordNumber)
		}
		return wire.EventBatch{Cursor: fmt.Sprintf("r:%d", last)}, nil
	}
	var rows []win32NTLogEvent
	if err := query(ctx, "Win32_NTLogEvent", wql, &rows); err != nil {
		return wire.EventBatch{}, err
	}
	return eventsFromWMI(f, rows, after), nil
}

// Perf reads one property, trying the Go types the wmi client can fill
// from each WMI variant type (integers, 64-bit integers sent as strings,
// reals) until one fits.
func (Windows) Perf(ctx context.Context, q wire.PerfQuery) (wire.PerfValue, error) {
	wql, err := perfWQL(q)
	if err != nil {
		return wire.PerfValue{}, err
	}
	var lastErr error
	for _, t := range []reflect.Type{reflect.TypeOf(int64(0)), reflect.TypeOf(float64(0)), reflect.TypeOf("")} {
		row := reflect.StructOf([]reflect.StructField{{Name: q.Property, Type: t}})
		rows := reflect.New(reflect.SliceOf(row))
		done := make(chan error, 1)
		go func() {
			c := &wmi.Client{}
			if q.Namespace != "" {
				done <- c.Query(wql, rows.Interface(), nil, q.Namespace)
				return
			}
			done <- c.Query(wql, rows.Interface())
		}()
		select {
		case err = <-done:
		case <-ctx.Done():
			return wire.PerfValue{}, fmt.Errorf("WMI query on %s: %w", q.Class, ctx.Err())
		}
		var mismatch *wmi.ErrFieldMismatch
		if errors.As(err, &mismatch) && !strings.Contains(err.Error(), "no such struct field") {
			lastErr = err
			continue // wrong Go type for this property: try the next
		}
		if err != nil {
			return wire.PerfValue{}, explainWMI(q.Class, err)
		}
		n := rows.Elem().Len()
		if n == 0 {
			if q.Instance != "" {
				return wire.PerfValue{}, fmt.Errorf("%s has no instance named %q", q.Class, q.Instance)
			}
			return wire.PerfValue{}, fmt.Errorf("%s returned no rows", q.Class)
		}
		v, err := perfNumber(rows.Elem().Index(0).Field(0).Interface())
		if err != nil {
			return wire.PerfValue{}, fmt.Errorf("%s.%s: %w", q.Class, q.Property, err)
		}
		return wire.PerfValue{Value: v, Rows: n}, nil
	}
	return wire.PerfValue{}, explainWMI(q.Class, lastErr)
}

// Inventory reads WMI and the registry's Uninstall keys (not
// Win32_Product, which is slow and triggers MSI repairs).
func (w Windows) Inventory(ctx context.Context) (wire.Inventory, error) {
	inv := wire.Inventory{Collected: time.Now().UTC(), Cores: runtime.NumCPU()}
	inv.Hostname, _ = os.Hostname()
	problem := func(what string, err error) { inv.Problems = append(inv.Problems, what+": "+err.Error()) }
	if rows, err := osRows(ctx); err == nil && len(rows) > 0 {
		inv.OS = wire.OSInfo{Name: rows[0].Caption, Version: rows[0].Version, Build: rows[0].BuildNumber}
		inv.BootTime = rows[0].LastBootUpTime.UTC()
	} else if err != nil {
		problem("os", err)
	}
	var cpus []win32Processor
	if err := query(ctx, "Win32_Processor", "SELECT Name, LoadPercentage, NumberOfLogicalProcessors FROM Win32_Processor", &cpus); err == nil && len(cpus) > 0 {
		inv.CPU = strings.TrimSpace(cpus[0].Name)
	} else if err != nil {
		problem("cpu", err)
	}
	var cs []win32ComputerSystem
	if err := query(ctx, "Win32_ComputerSystem", "SELECT TotalPhysicalMemory FROM Win32_ComputerSystem", &cs); err == nil && len(cs) > 0 {
		inv.RAM = cs[0].TotalPhysicalMemory
	} else if err != nil {
		problem("memory", err)
	}
	var bios []win32BIOS
	if err := query(ctx, "Win32_BIOS", "SELECT SerialNumber FROM Win32_BIOS", &bios); err == nil && len(bios) > 0 {
		inv.Serial = strings.TrimSpace(bios[0].SerialNumber)
	} else if err != nil {
		problem("serial", err)
	}
	var qfe []win32QuickFixEngineering
	if err := query(ctx, "Win32_QuickFixEngineering", "SELECT HotFixID, Description, InstalledOn FROM Win32_QuickFixEngineering", &qfe); err == nil {
		inv.Patches = patchesFromWMI(qfe)
	} else {
		problem("patches", err)
	}
	entries, err := uninstallEntries()
	if err != nil {
		problem("applications", err)
	}
	inv.Apps = appsFromUninstall(entries)
	return inv, nil
}

// uninstallEntries reads HKLM's Uninstall keys in both registry views.
func uninstallEntries() ([]uninstallEntry, error) {
	const path = `SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`
	var out []uninstallEntry
	var firstErr error
	for _, view := range []uint32{registry.WOW64_64KEY, registry.WOW64_32KEY} {
		k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.ENUMERATE_SUB_KEYS|registry.QUERY_VALUE|view)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("opening HKLM\\%s: %w", path, err)
			}
			continue
		}
		names, _ := k.ReadSubKeyNames(-1)
		for _, n := range names {
			sk, err := registry.OpenKey(k, n, registry.QUERY_VALUE|view)
			if err != nil {
				continue
			}
			var e uninstallEntry
			e.DisplayName, _, _ = sk.GetStringValue("DisplayName")
			e.DisplayVersion, _, _ = sk.GetStringValue("DisplayVersion")
			e.Publisher, _, _ = sk.GetStringValue("Publisher")
			e.ParentKeyName, _, _ = sk.GetStringValue("ParentKeyName")
			e.SystemComponent, _, _ = sk.GetIntegerValue("SystemComponent")
			sk.Close()
			out = append(out, e)
		}
		k.Close()
	}
	if len(out) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// ControlService drives the service control manager, waiting (within
// ctx) for each state change.
func (Windows) ControlService(ctx context.Context, action, name string) (string, error) {
	m, err := mgr.Connect()
	if err != nil {
		return "", fmt.Errorf("connecting to the service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return "", fmt.Errorf("service %s: %w", name, err)
	}
	defer s.Close()
	var steps []string
	stop := func() error {
		st, err := s.Query()
		if err != nil {
			return err
		}
		if st.State == svc.Stopped {
			steps = append(steps, "was stopped")
			return nil
		}
		if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
			return fmt.Errorf("stopping %s: %w", name, err)
		}
		if err := waitState(ctx, s, svc.Stopped); err != nil {
			return err
		}
		steps = append(steps, "stopped")
		return nil
	}
	start := func() error {
		if err := s.Start(); err != nil && !errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
			return fmt.Errorf("starting %s: %w", name, err)
		}
		if err := waitState(ctx, s, svc.Running); err != nil {
			return err
		}
		steps = append(steps, "started")
		return nil
	}
	switch action {
	case wire.ActionStop:
		err = stop()
	case wire.ActionStart:
		err = start()
	case wire.ActionRestart:
		if err = stop(); err == nil {
			err = start()
		}
	default:
		err = fmt.Errorf("unknown action %q", action)
	}
	out := name + ": " + strings.Join(steps, ", ")
	return out, err
}

func waitState(ctx context.Context, s *mgr.Service, want svc.State) error {
	for {
		st, err := s.Query()
		if err != nil {
			return err
		}
		if st.State == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the service state %d: %w", want, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
