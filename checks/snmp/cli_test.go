package snmp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"outpost/appliance/cli"
	"outpost/checks/snmp"
)

func probe(t *testing.T, args ...string) (string, int) {
	t.Helper()
	addr, skip := snmp.SimAddr()
	if skip != "" {
		t.Skip("snmpsim not available: " + skip)
	}
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), &cli.Env{Stdout: &out, Stderr: &errb}, append([]string{"snmp", "probe", "--target", addr}, args...))
	return out.String() + errb.String(), code
}

func TestProbeCLI(t *testing.T) {
	out, code := probe(t, "--community", "ups_eaton_93e")
	t.Log(out)
	for _, want := range []string{"Name         DUMSYS-23", "Vendor       Eaton (MGE)", "Class        ups (guess)", "UPS (UPS-MIB)", "runtime         1092 min", "charge          100 %"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d, output lacks %q", code, want)
		}
	}
	out, code = probe(t, "--community", "switch_hpe_procurve", "--json")
	var r snmp.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	admin := 0
	for _, it := range r.Interfaces {
		if it.Admin == "down" {
			admin++
		}
	}
	if len(r.Interfaces) != 42 || admin != 12 || r.Class != "switch" || r.Vendor != "HP" || r.UPS.Supported || r.Packets == 0 {
		t.Errorf("switch: %d interfaces, %d admin-down, class %s, vendor %s", len(r.Interfaces), admin, r.Class, r.Vendor)
	}
	classes := map[string]string{"pdu_apc_7902b": "pdu", "windows_server_2003": "server", "firewall_paloalto": "firewall",
		"wifi_ubiquiti_m5": "access_point", "ups_huawei_gse200m": "ups", "ups_vertiv": "ups", "linux_full_walk": "server", "switch_dlink_des3038": "switch"}
	for rec, class := range classes {
		out, _ := probe(t, "--community", rec, "--json")
		var r snmp.Report
		json.Unmarshal([]byte(out), &r)
		if r.Class != class {
			t.Errorf("%s: class %q, want %q", rec, r.Class, class)
		}
	}
	// A printer's model is its hrDeviceDescr, not its network card's
	// sysDescr; its state is hrDeviceStatus when hrPrinterStatus is absent.
	out, code = probe(t, "--community", "printer_device_status_only")
	for _, want := range []string{"Model        HP LaserJet Pro M404dn\n", "Class        printer (guess)", "Printer (status -, device down)"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("printer without hrPrinterStatus: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	out, code = probe(t, "--community", "wrong", "--timeout", "200ms", "--retries", "0")
	if code != 1 || !strings.Contains(out, "no answer from") {
		t.Errorf("wrong community: exit %d %s", code, out)
	}
	out, code = probe(t, "--user", "u", "--auth-protocol", "SHA1", "--auth-password", "12345678")
	if code != 2 || !strings.Contains(out, `auth_protocol "SHA1" is not an auth protocol (one of`) {
		t.Errorf("bad v3 flags: exit %d %s", code, out)
	}
	out, code = probe(t, "--user", "tech", "--auth-protocol", "SHA", "--auth-password", "authpass123", "--priv-protocol", "AES", "--priv-password", "privpass123", "--context", "printer_special_values")
	if code != 0 || !strings.Contains(out, "Black Toner") || !strings.Contains(out, "some remaining") || !strings.Contains(out, "Class        printer") {
		t.Errorf("v3 printer: exit %d %s", code, out)
	}
}
