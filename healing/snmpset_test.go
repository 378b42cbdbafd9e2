package healing_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"outpost/healing"
)

// startSNMPD runs net-snmp's snmpd on a free loopback port with a
// read-write community (and the extra config lines), for the SET tests.
func startSNMPD(t *testing.T, extra ...string) int {
	t.Helper()
	bin, err := exec.LookPath("snmpd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/snmpd"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("snmpd is not installed (make test installs it)")
		}
		t.Skip("snmpd is not installed; `make test` installs it")
	}
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "snmpd.conf")
	os.WriteFile(conf, []byte("rwcommunity private 127.0.0.1\nrocommunity public 127.0.0.1\n"+strings.Join(extra, "\n")+"\n"), 0o600)
	cmd := exec.Command(bin, "-f", "-Lo", "-C", "-c", conf, "-p", filepath.Join(dir, "pid"), fmt.Sprintf("udp:127.0.0.1:%d", port))
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+dir, "MIBS=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(port), Community: "public", Version: gosnmp.Version2c, Timeout: 200 * time.Millisecond}
		if g.Connect() == nil {
			_, err := g.Get([]string{".1.3.6.1.2.1.1.5.0"})
			g.Conn.Close()
			if err == nil {
				return port
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("snmpd did not answer")
	return 0
}

func TestSNMPSetAgainstSnmpd(t *testing.T) {
	port := startSNMPD(t)
	dev := fmt.Sprintf("{name: rack-pdu, address: 127.0.0.1, snmp: {community: private, port: %d, timeout: 1s}}", port)
	a := remediationWithDevices(t, dev, "{action: snmp_set, device: rack-pdu, oid: 1.3.6.1.2.1.1.6.0, type: string, value: 'closet B, rack 2'}")
	e := healing.NewRunner(nil, nil).Run(context.Background(), a, "c", 0, "auto", 5*time.Second)
	if !e.OK {
		t.Fatalf("set: %+v", e)
	}
	g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(port), Community: "public", Version: gosnmp.Version2c, Timeout: time.Second}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Conn.Close()
	res, err := g.Get([]string{".1.3.6.1.2.1.1.6.0"})
	if err != nil || string(res.Variables[0].Value.([]byte)) != "closet B, rack 2" {
		t.Fatalf("sysLocation after SET: %v %v", res, err)
	}
	// The read-only community is refused: a clear failure, not a hang.
	ro := remediationWithDevices(t, fmt.Sprintf("{name: rack-pdu, address: 127.0.0.1, snmp: {community: public, port: %d, timeout: 500ms}}", port), "{action: snmp_set, device: rack-pdu, oid: 1.3.6.1.2.1.1.6.0, type: string, value: x}")
	e = healing.NewRunner(nil, nil).Run(context.Background(), ro, "c", 0, "auto", 5*time.Second)
	if e.OK || !(strings.Contains(e.Error, "NoAccess") || strings.Contains(e.Error, "no answer") || strings.Contains(e.Error, "agent answered")) {
		t.Fatalf("read-only community: %+v", e)
	}
}

// snmp_set to an SNMPv3 device (authPriv) goes through the same session
// code as the SNMP checks; a wrong password fails with the reason.
func TestSNMPSetV3AgainstSnmpd(t *testing.T) {
	port := startSNMPD(t, "createUser setter SHA256 authpass-sha256 AES privpass-aes", "rwuser setter priv")
	dev := func(priv string) string {
		return fmt.Sprintf(`{name: pdu3, address: 127.0.0.1, snmp: {version: "3", user: setter, auth_protocol: SHA256, auth_password: authpass-sha256, priv_protocol: AES, priv_password: %s, port: %d, timeout: 500ms}}`, priv, port)
	}
	a := remediationWithDevices(t, dev("privpass-aes"), "{action: snmp_set, device: pdu3, oid: 1.3.6.1.2.1.1.6.0, type: string, value: 'closet C, rack 1'}")
	e := healing.NewRunner(nil, nil).Run(context.Background(), a, "c", 0, "auto", 5*time.Second)
	if !e.OK || e.Output != "pdu3 set .1.3.6.1.2.1.1.6.0 = closet C, rack 1" {
		t.Fatalf("v3 set: %+v", e)
	}
	g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(port), Community: "public", Version: gosnmp.Version2c, Timeout: time.Second}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Conn.Close()
	res, err := g.Get([]string{".1.3.6.1.2.1.1.6.0"})
	if err != nil || string(res.Variables[0].Value.([]byte)) != "closet C, rack 1" {
		t.Fatalf("sysLocation after the v3 SET: %v %v", res, err)
	}
	wrong := remediationWithDevices(t, dev("wrong-privpass"), "{action: snmp_set, device: pdu3, oid: 1.3.6.1.2.1.1.6.0, type: string, value: x}")
	e = healing.NewRunner(nil, nil).Run(context.Background(), wrong, "c", 0, "auto", 5*time.Second)
	if e.OK || !(strings.Contains(e.Error, "decryption failed") || strings.Contains(e.Error, "no answer")) {
		t.Fatalf("wrong privacy password: %+v", e)
	}
	t.Logf("wrong privacy password: %s", e.Error)
}

func remediationWithDevices(t *testing.T, device, rem string) healing.Action {
	t.Helper()
	y := "site: s\ndevices:\n  - " + device + "\nchecks:\n  - id: c\n    kind: tcp\n    target: 127.0.0.1:1\n    remediations:\n      - " + rem + "\n"
	return remediationYAML(t, y)
}
