package sysinfo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/checks/agent/wire"
)

func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }

// The rows below are shaped as WMI returns them on a Windows Server 2019
// host (values recorded from Win32_* answers).

func TestServiceFromWMI(t *testing.T) {
	rows := []win32Service{{Name: "MSSQLSERVER", DisplayName: "SQL Server (MSSQLSERVER)", State: "Stop Pending", StartMode: "Auto"}}
	s := serviceFromWMI("mssqlserver", rows)
	if !s.Found || s.State != "stopping" || s.StartMode != "auto" || s.Raw != "Stop Pending" {
		t.Fatalf("%+v", s)
	}
	if s := serviceFromWMI("Spooler", nil); s.Found {
		t.Fatalf("missing service found: %+v", s)
	}
}

func TestVolumesFromWMI(t *testing.T) {
	rows := []win32LogicalDisk{
		{DeviceID: "C:", DriveType: 3, FileSystem: "NTFS", Size: u64(127_326_498_816), FreeSpace: u64(41_234_567_168)},
		{DeviceID: "D:", DriveType: 5}, // empty DVD drive: no size
		{DeviceID: "E:", DriveType: 3, FileSystem: "ReFS", VolumeName: "Data", Size: u64(1_000_000_000_000), FreeSpace: u64(100_000_000_000)},
		{DeviceID: "Z:", DriveType: 4, Size: u64(1), FreeSpace: u64(1)}, // mapped share
	}
	vs, err := volumesFromWMI("", rows)
	if err != nil || len(vs) != 2 || vs[1].Name != "E:" || vs[1].UsedPercent() != 90 {
		t.Fatalf("%+v %v", vs, err)
	}
	if vs, err := volumesFromWMI(`e:\`, rows); err != nil || len(vs) != 1 || vs[0].Label != "Data" {
		t.Fatalf("%+v %v", vs, err)
	}
	if _, err := volumesFromWMI("D:", rows); err == nil {
		t.Fatal("a drive without media is not a volume")
	}
}

func TestOSRowsFromWMI(t *testing.T) {
	boot := time.Date(2024, 3, 2, 4, 5, 6, 0, time.FixedZone("", 60*60))
	rows := []win32OperatingSystem{{Caption: "Microsoft Windows Server 2019 Standard", Version: "10.0.17763", BuildNumber: "17763", LastBootUpTime: boot, TotalVisibleMemorySize: 16_776_696, FreePhysicalMemory: 4_194_304}}
	m, err := memoryFromWMI(rows)
	if err != nil || m.Total != 16_776_696*1024 || m.Available != 4*1024*1024*1024 {
		t.Fatalf("%+v %v", m, err)
	}
	u, err := uptimeFromWMI(rows, boot.Add(49*time.Hour))
	if err != nil || u.Uptime != 49*time.Hour || !u.BootTime.Equal(boot) || u.BootTime.Location() != time.UTC {
		t.Fatalf("%+v %v", u, err)
	}
	if _, err := memoryFromWMI(nil); err == nil {
		t.Fatal("no rows accepted")
	}
}

func TestCPUAndProcessesFromWMI(t *testing.T) {
	c, err := cpuFromWMI([]win32Processor{{LoadPercentage: u16(30), NumberOfLogicalProcessors: 8}, {LoadPercentage: u16(50), NumberOfLogicalProcessors: 8}})
	if err != nil || c.Percent != 40 || c.Cores != 16 {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := cpuFromWMI([]win32Processor{{NumberOfLogicalProcessors: 4}}); err == nil {
		t.Fatal("missing LoadPercentage accepted")
	}
	p := processesFromWMI("w3wp", []win32Process{{Name: "w3wp.exe", ProcessId: 88}, {Name: "W3WP.EXE", ProcessId: 12}, {Name: "svchost.exe", ProcessId: 4}})
	if p.Count != 2 || p.PIDs[0] != 12 {
		t.Fatalf("%+v", p)
	}
}

func TestEventsFromWMI(t *testing.T) {
	q := wire.EventQuery{Log: "Application", Source: "MSSQLSERVER", EventIDs: []int{9002}, Cursor: "r:100"}
	wql, after, err := eventLogWQL(q)
	if err != nil || after != 100 || !strings.Contains(wql, "RecordNumber > 100") || !strings.Contains(wql, "SourceName = 'MSSQLSERVER'") {
		t.Fatalf("%s %d %v", wql, after, err)
	}
	f, _ := newEventFilter(q)
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := []win32NTLogEvent{
		{Logfile: "Application", SourceName: "MSSQLSERVER", EventCode: 9002, EventType: 1, RecordNumber: 103, TimeGenerated: at, Message: "The transaction log for database 'pos' is full"},
		{Logfile: "Application", SourceName: "MSSQLSERVER", EventCode: 17137, EventType: 3, RecordNumber: 101, TimeGenerated: at},
		{Logfile: "Application", SourceName: "MSSQLSERVER", EventCode: 9002, EventType: 1, RecordNumber: 99, TimeGenerated: at},
	}
	b := eventsFromWMI(f, rows, after)
	if b.Count != 1 || b.Cursor != "r:103" || b.Entries[0].Level != "error" || b.Entries[0].ID != 9002 {
		t.Fatalf("%+v", b)
	}
	if _, _, err := eventLogWQL(wire.EventQuery{Log: "System", Cursor: "/var/log:12"}); err == nil {
		t.Fatal("foreign cursor accepted")
	}
	if wql, _, _ := eventLogWQL(wire.EventQuery{Log: `it's`}); !strings.Contains(wql, `'it\'s'`) {
		t.Fatalf("quoting: %s", wql)
	}
}

func TestInventoryPartsFromWMI(t *testing.T) {
	apps := appsFromUninstall([]uninstallEntry{
		{DisplayName: "Microsoft SQL Server 2019 (64-bit)", DisplayVersion: "15.0.2000.5", Publisher: "Microsoft Corporation"},
		{DisplayName: "7-Zip 23.01 (x64)", DisplayVersion: "23.01"},
		{DisplayName: "7-Zip 23.01 (x64)", DisplayVersion: "23.01"},
		{DisplayName: "Security Update for SQL Server", ParentKeyName: "SQL2019"},
		{DisplayName: "Driver component", SystemComponent: 1},
		{DisplayName: ""},
	})
	if len(apps) != 2 || apps[0].Name != "7-Zip 23.01 (x64)" || apps[1].Version != "15.0.2000.5" {
		t.Fatalf("%+v", apps)
	}
	ps := patchesFromWMI([]win32QuickFixEngineering{{HotFixID: "KB5034127", Description: "Security Update", InstalledOn: "1/10/2024"}, {HotFixID: "File 1"}, {HotFixID: "KB4589208", Description: "Update"}})
	if len(ps) != 2 || ps[0].ID != "KB4589208" {
		t.Fatalf("%+v", ps)
	}
}

func TestExplainWMI(t *testing.T) {
	// The wmi client's error when a property is not returned (as under
	// Wine, or a class from a role that is not installed).
	err := explainWMI("Win32_Service", errors.New(`wmi: cannot load field "State" into a "string": no such struct field`))
	if err == nil || err.Error() != "WMI answered Win32_Service without the property State (this Windows does not provide it)" {
		t.Fatalf("%v", err)
	}
	if explainWMI("X", nil) != nil {
		t.Fatal("nil error explained")
	}
}

func TestPerf(t *testing.T) {
	for in, want := range map[any]float64{int64(-3): -3, uint64(7): 7, 2.5: 2.5, " 18446744073709551615": 18446744073709551615} {
		if got, err := perfNumber(in); err != nil || got != want {
			t.Errorf("%v: %v %v", in, got, err)
		}
	}
	if _, err := perfNumber("abc"); err == nil {
		t.Error("text accepted")
	}
	if _, err := perfWQL(wire.PerfQuery{Class: "Win32_X; DROP", Property: "A"}); err == nil {
		t.Error("injected class accepted")
	}
	wql, err := perfWQL(wire.PerfQuery{Class: "Win32_PerfFormattedData_MSSQLSERVER_SQLServerDatabases", Property: "PercentLogUsed", Instance: "_Total"})
	if err != nil || wql != "SELECT PercentLogUsed FROM Win32_PerfFormattedData_MSSQLSERVER_SQLServerDatabases WHERE Name = '_Total'" {
		t.Fatalf("%s %v", wql, err)
	}
}

func TestTailFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "syslog")
	os.WriteFile(p, []byte("old error\n"), 0o600)
	f, _ := newEventFilter(wire.EventQuery{Log: p, Pattern: "error"})
	ctx := context.Background()
	b, err := tailFile(ctx, p, f, time.Now())
	if err != nil || b.Count != 0 {
		t.Fatalf("first poll reports nothing old: %+v %v", b, err)
	}
	fh, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString("new error\nfine\nhalf a line with error")
	fh.Close()
	f.q.Cursor = b.Cursor
	b, _ = tailFile(ctx, p, f, time.Now())
	if b.Count != 1 || b.Entries[0].Message != "new error" {
		t.Fatalf("%+v", b)
	}
	// Rotation: a new, shorter file is read from its start.
	os.Remove(p)
	os.WriteFile(p, []byte("error after rotation\n"), 0o600)
	f.q.Cursor = b.Cursor
	b, _ = tailFile(ctx, p, f, time.Now())
	if b.Count != 1 || b.Entries[0].Message != "error after rotation" {
		t.Fatalf("%+v", b)
	}
}

func TestParsers(t *testing.T) {
	apps := parseDpkg("ii \tbash\t5.2.15-2+b7\tMatthias Klose\nrc \tgone\t1\t(none)\nii \tzlib1g\t1:1.2.13\t(none)\n")
	if len(apps) != 2 || apps[1].Publisher != "" || apps[0].Version != "5.2.15-2+b7" {
		t.Fatalf("%+v", apps)
	}
	ps := parseAptSim("Reading package lists...\nInst openssl [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])\nConf openssl\n")
	if len(ps) != 1 || ps[0].ID != "openssl" || ps[0].Description != "upgrade to 3.0.11-1~deb12u2" || !ps[0].Pending {
		t.Fatalf("%+v", ps)
	}
}
