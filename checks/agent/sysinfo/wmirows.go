package sysinfo

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"outpost/checks/agent/wire"
)

// The structs below are the WMI rows the agent asks for, named as WMI
// names them so the wmi client fills them by reflection. They compile on
// every OS so the conversions are tested on recorded rows.

type win32Service struct {
	Name        string
	DisplayName string
	State       string
	StartMode   string
}

type win32LogicalDisk struct {
	DeviceID   string
	DriveType  uint32
	FileSystem string
	VolumeName string
	Size       *uint64
	FreeSpace  *uint64
}

type win32OperatingSystem struct {
	Caption                string
	Version                string
	BuildNumber            string
	LastBootUpTime         time.Time
	TotalVisibleMemorySize uint64 // KiB
	FreePhysicalMemory     uint64 // KiB
}

type win32Processor struct {
	Name                      string
	LoadPercentage            *uint16
	NumberOfLogicalProcessors uint32
}

type win32Process struct {
	Name      string
	ProcessId uint32
}

type win32NTLogEvent struct {
	Logfile       string
	SourceName    string
	EventCode     uint16
	EventType     uint8
	RecordNumber  uint32
	TimeGenerated time.Time
	Message       string
}

type win32QuickFixEngineering struct {
	HotFixID    string
	Description string
	InstalledOn string
}

type win32BIOS struct{ SerialNumber string }

type win32ComputerSystem struct{ TotalPhysicalMemory uint64 }

// uninstallEntry is one registry Uninstall key's values.
type uninstallEntry struct {
	DisplayName, DisplayVersion, Publisher string
	SystemComponent                        uint64
	ParentKeyName                          string
}

var wmiFieldRE = regexp.MustCompile(`cannot load field "([^"]+)".*no such struct field`)

// explainWMI turns the wmi client's errors into what a technician can act
// on. A property the system does not return (Wine's WMI scripting layer,
// a class from a role not installed) names the class and property.
func explainWMI(class string, err error) error {
	if err == nil {
		return nil
	}
	if m := wmiFieldRE.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("WMI answered %s without the property %s (this Windows does not provide it)", class, m[1])
	}
	return fmt.Errorf("WMI query on %s failed: %w", class, err)
}

func serviceFromWMI(name string, rows []win32Service) wire.Service {
	for _, r := range rows {
		if strings.EqualFold(r.Name, name) || strings.EqualFold(r.DisplayName, name) {
			return wire.Service{Name: r.Name, Found: true, Raw: r.State, State: normalizeState(r.State), StartMode: strings.ToLower(r.StartMode)}
		}
	}
	return wire.Service{Name: name, Found: false, State: "unknown"}
}

// volumesFromWMI keeps local fixed disks (DriveType 3) that report a size:
// an empty card reader or a mapped drive is not a volume to watch.
func volumesFromWMI(name string, rows []win32LogicalDisk) ([]wire.Volume, error) {
	var out []wire.Volume
	for _, r := range rows {
		if r.DriveType != 3 || r.Size == nil || r.FreeSpace == nil {
			continue
		}
		if name != "" && !strings.EqualFold(strings.TrimSuffix(name, `\`), r.DeviceID) {
			continue
		}
		out = append(out, wire.Volume{Name: r.DeviceID, Label: r.VolumeName, FS: r.FileSystem, Total: *r.Size, Free: *r.FreeSpace})
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("no local fixed disk %s", name)
	}
	return out, nil
}

func memoryFromWMI(rows []win32OperatingSystem) (wire.Memory, error) {
	if len(rows) == 0 || rows[0].TotalVisibleMemorySize == 0 {
		return wire.Memory{}, errors.New("WMI returned no Win32_OperatingSystem memory figures")
	}
	return wire.Memory{Total: rows[0].TotalVisibleMemorySize * 1024, Available: rows[0].FreePhysicalMemory * 1024}, nil
}

func uptimeFromWMI(rows []win32OperatingSystem, now time.Time) (wire.Uptime, error) {
	if len(rows) == 0 || rows[0].LastBootUpTime.IsZero() {
		return wire.Uptime{}, errors.New("WMI returned no Win32_OperatingSystem.LastBootUpTime")
	}
	b := rows[0].LastBootUpTime
	return wire.Uptime{BootTime: b.UTC(), Uptime: now.Sub(b)}, nil
}

// cpuFromWMI averages LoadPercentage over sockets.
func cpuFromWMI(rows []win32Processor) (wire.CPU, error) {
	var sum float64
	n, cores := 0, 0
	for _, r := range rows {
		cores += int(r.NumberOfLogicalProcessors)
		if r.LoadPercentage != nil {
			sum += float64(*r.LoadPercentage)
			n++
		}
	}
	if n == 0 {
		return wire.CPU{}, errors.New("WMI returned no Win32_Processor.LoadPercentage")
	}
	return wire.CPU{Percent: sum / float64(n), Window: time.Second, Cores: cores}, nil
}

// processesFromWMI matches names case-insensitively, with or without .exe.
func processesFromWMI(name string, rows []win32Process) wire.ProcessList {
	want := strings.TrimSuffix(strings.ToLower(name), ".exe")
	pl := wire.ProcessList{Name: name}
	for _, r := range rows {
		if strings.TrimSuffix(strings.ToLower(r.Name), ".exe") == want {
			pl.Count++
			pl.PIDs = append(pl.PIDs, int(r.ProcessId))
		}
	}
	sort.Ints(pl.PIDs)
	return pl
}

var eventTypeNames = map[uint8]string{1: "error", 2: "warning", 3: "information", 4: "audit_success", 5: "audit_failure"}

// eventsFromWMI filters rows after the cursor's record number and moves
// the cursor to the newest record seen.
func eventsFromWMI(f *eventFilter, rows []win32NTLogEvent, after uint32) wire.EventBatch {
	sort.Slice(rows, func(i, j int) bool { return rows[i].RecordNumber < rows[j].RecordNumber })
	var b wire.EventBatch
	last := after
	for _, r := range rows {
		if r.RecordNumber <= after {
			continue
		}
		last = max(last, r.RecordNumber)
		f.add(&b, wire.Event{Time: r.TimeGenerated.UTC(), Source: r.SourceName, ID: int(r.EventCode), Level: eventTypeNames[r.EventType], Message: strings.TrimSpace(r.Message)})
	}
	b.Cursor = "r:" + strconv.FormatUint(uint64(last), 10)
	return b
}

// eventLogWQL builds the query for a poll. The first poll only learns
// where the log ends; later ones ask for records after the cursor.
func eventLogWQL(q wire.EventQuery) (wql string, after uint32, err error) {
	base := "SELECT Logfile, SourceName, EventCode, EventType, RecordNumber, TimeGenerated, Message FROM Win32_NTLogEvent WHERE Logfile = " + wqlQuote(q.Log)
	if q.Cursor == "" {
		return "SELECT RecordNumber FROM Win32_NTLogEvent WHERE Logfile = " + wqlQuote(q.Log), 0, nil
	}
	n, perr := strconv.ParseUint(strings.TrimPrefix(q.Cursor, "r:"), 10, 32)
	if perr != nil || !strings.HasPrefix(q.Cursor, "r:") {
		return "", 0, fmt.Errorf("event log cursor %q is not from this agent", q.Cursor)
	}
	if q.Source != "" {
		base += " AND SourceName = " + wqlQuote(q.Source)
	}
	return base + " AND RecordNumber > " + strconv.FormatUint(n, 10), uint32(n), nil
}

// appsFromUninstall keeps what Programs and Features shows: named,
// not a system component, not an update of another entry.
func appsFromUninstall(entries []uninstallEntry) []wire.App {
	seen := map[string]bool{}
	var out []wire.App
	for _, e := range entries {
		name := strings.TrimSpace(e.DisplayName)
		if name == "" || e.SystemComponent == 1 || e.ParentKeyName != "" {
			continue
		}
		key := name + "\x00" + e.DisplayVersion
		if seen[key] {
			continue // the same app under the 32- and 64-bit views
		}
		seen[key] = true
		out = append(out, wire.App{Name: name, Version: e.DisplayVersion, Publisher: e.Publisher})
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}

func patchesFromWMI(rows []win32QuickFixEngineering) []wire.Patch {
	out := make([]wire.Patch, 0, len(rows))
	for _, r := range rows {
		if r.HotFixID == "" || r.HotFixID == "File 1" {
			continue
		}
		out = append(out, wire.Patch{ID: r.HotFixID, Description: r.Description, Installed: r.InstalledOn})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// perfNumber turns a WMI property value (integers arrive as Go integers,
// 64-bit ones as decimal strings) into a float.
func perfNumber(v any) (float64, error) {
	switch x := v.(type) {
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case float64:
		return x, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("value %q is not a number", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("value of type %T is not a number", v)
}

// perfWQL builds the query for a perf property; class and property were
// validated as identifiers.
func perfWQL(q wire.PerfQuery) (string, error) {
	if !ValidIdent(q.Class) {
		return "", fmt.Errorf("class %q is not a WMI class name", q.Class)
	}
	if !ValidIdent(q.Property) {
		return "", fmt.Errorf("property %q is not a WMI property name", q.Property)
	}
	wql := "SELECT " + q.Property + " FROM " + q.Class
	if q.Instance != "" {
		wql += " WHERE Name = " + wqlQuote(q.Instance)
	}
	return wql, nil
}
