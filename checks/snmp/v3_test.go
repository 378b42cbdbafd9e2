package snmp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
)

// netsnmpAuth and netsnmpPriv spell Outpost's protocol names the way
// snmpd.conf's createUser does.
var (
	netsnmpAuth = map[string]string{"MD5": "MD5", "SHA": "SHA", "SHA224": "SHA-224", "SHA256": "SHA-256", "SHA384": "SHA-384", "SHA512": "SHA-512"}
	netsnmpPriv = map[string]string{"DES": "DES", "AES": "AES", "AES192": "AES-192", "AES256": "AES-256", "AES192C": "AES-192-C", "AES256C": "AES-256-C"}
)

func v3User(auth, priv string) string { return strings.ToLower("u_" + auth + "_" + priv) }

var snmpdOnce struct {
	sync.Once
	port int
	err  error
	cmd  *exec.Cmd
}

// startSnmpd runs net-snmp's snmpd on a free loopback port with one v3
// user per auth/priv combination, a v2c community, and its own state dir.
// It is shared by the tests of this file and stopped by cleanup of the
// first test that started it (the rest run inside that test's lifetime
// because TestSNMPv3 holds them as subtests).
func startSnmpd(t *testing.T) int {
	t.Helper()
	bin, err := exec.LookPath("snmpd")
	if err != nil {
		bin = "/usr/sbin/snmpd"
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("snmpd is not installed (make test installs Debian's snmpd)")
			}
			t.Skip("snmpd is not installed; `make test` installs Debian's snmpd")
		}
	}
	dir := t.TempDir()
	var conf strings.Builder
	conf.WriteString("rocommunity public 127.0.0.1\n")
	conf.WriteString("createUser u_noauth\nrouser u_noauth noauth\n")
	for a, na := range netsnmpAuth {
		fmt.Fprintf(&conf, "createUser %s %s authpass-%s\nrouser %s auth\n", v3User(a, "none"), na, a, v3User(a, "none"))
		for p, np := range netsnmpPriv {
			fmt.Fprintf(&conf, "createUser %s %s authpass-%s %s privpass-%s\nrouser %s priv\n", v3User(a, p), na, a, np, p, v3User(a, p))
		}
	}
	port := freeUDPPort()
	os.WriteFile(filepath.Join(dir, "snmpd.conf"), []byte(conf.String()), 0o600)
	cmd := exec.Command(bin, "-f", "-Lo", "-C", "-c", filepath.Join(dir, "snmpd.conf"), "-p", filepath.Join(dir, "pid"), fmt.Sprintf("udp:127.0.0.1:%d", port))
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+dir, "MIBS=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	tg := Target{Address: "127.0.0.1", SNMP: checks.SNMP{Port: port, Community: "public", Timeout: 200 * time.Millisecond}}.WithDefaults()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		s, err := Dial(tg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Get(context.Background(), oidSysName)
		s.Close()
		if err == nil {
			return port
		}
	}
	t.Fatal("snmpd did not answer")
	return 0
}

func TestSNMPv3AgainstNetSNMP(t *testing.T) {
	port := startSnmpd(t)
	try := func(t *testing.T, tg Target) error {
		tg = tg.WithDefaults()
		tg.Retries = 0
		s, err := Dial(tg)
		if err != nil {
			return err
		}
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sys, err := ReadSystem(ctx, s)
		if err == nil && sys.Name == "" {
			err = errors.New("empty sysName")
		}
		return err
	}
	base := Target{Address: "127.0.0.1", SNMP: checks.SNMP{Port: port, Version: "3", Timeout: time.Second}}
	t.Run("noAuthNoPriv", func(t *testing.T) {
		tg := base
		tg.User = "u_noauth"
		if err := try(t, tg); err != nil {
			t.Fatal(err)
		}
	})
	for a := range AuthProtocols {
		for _, p := range []string{"none", "DES", "AES", "AES192", "AES256", "AES192C", "AES256C"} {
			t.Run(a+"/"+p, func(t *testing.T) {
				t.Parallel()
				tg := base
				tg.User, tg.AuthProtocol, tg.AuthPassword = v3User(a, p), a, checks.Secret("authpass-"+a)
				if p != "none" {
					tg.PrivProtocol, tg.PrivPassword = p, checks.Secret("privpass-"+p)
				}
				if err := try(t, tg); err != nil {
					t.Fatalf("%s/%s: %v", a, p, err)
				}
				// The same user with a wrong password fails with a reason.
				if p == "none" {
					tg.AuthPassword = "wrong-password"
				} else {
					tg.PrivPassword = "wrong-password"
				}
				// snmpd drops what it cannot decrypt: keep that wait short.
				tg.Timeout = 300 * time.Millisecond
				err := try(t, tg)
				if err == nil {
					t.Fatal("wrong password accepted")
				}
				t.Logf("wrong password: %v", err)
			})
		}
	}
}

func TestSNMPv3AgainstSnmpsim(t *testing.T) {
	needSim(t)
	tg := Target{Name: "v3-eaton", Address: "127.0.0.1", SNMP: checks.SNMP{Port: sim.port, Version: "3", User: "tech", AuthProtocol: "SHA", AuthPassword: "authpass123",
		PrivProtocol: "AES", PrivPassword: "privpass123", Context: "ups_eaton_93e", Timeout: 3 * time.Second}}.WithDefaults()
	if tg.SecurityLevel != "authPriv" {
		t.Fatalf("security level defaulted to %q", tg.SecurityLevel)
	}
	u, err := ReadUPS(testCtx(t), NewPoller(nil).Device(tg, 0))
	if err != nil {
		t.Fatal(err)
	}
	if u.MinutesRemaining == nil || *u.MinutesRemaining != 1092 {
		t.Errorf("v3 UPS: %+v", u)
	}
	// Interfaces through v3 exercise GETBULK with privacy on a bigger table.
	tg.Context, tg.Name = "switch_hpe_procurve", "v3-hpe"
	ifs, err := ReadInterfaces(testCtx(t), NewPoller(nil).Device(tg, 0))
	if err != nil || len(ifs) != 42 {
		t.Fatalf("v3 interfaces: %d, %v", len(ifs), err)
	}
	tg.AuthPassword, tg.Timeout, tg.Retries, tg.Name = "wrong-pass-123", 500*time.Millisecond, 0, "v3-wrong"
	_, err = ReadSystem(testCtx(t), NewPoller(nil).Device(tg, 0))
	if err == nil || !strings.Contains(err.Error(), "authentication failed") && !errors.Is(err, ErrTimeout) {
		t.Fatalf("wrong v3 auth password: %v", err)
	}
	t.Logf("wrong v3 password: %v", err)
}

func TestBadInput(t *testing.T) {
	needSim(t)
	t.Run("wrong community times out quickly with a reason", func(t *testing.T) {
		tg := simTarget("ups_eaton_93e")
		tg.Community, tg.Timeout, tg.Retries, tg.Name = "no-such-community", 300*time.Millisecond, 1, "wrong-community"
		start := time.Now()
		_, err := ReadSystem(testCtx(t), NewPoller(nil).Device(tg, 0))
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "wrong community") {
			t.Fatalf("err = %v", err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("took %s", el)
		}
	})
	t.Run("unreachable port", func(t *testing.T) {
		tg := simTarget("ups_eaton_93e")
		tg.Port, tg.Timeout, tg.Retries = freeUDPPort(), 300*time.Millisecond, 0
		s, err := Dial(tg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = s.Get(testCtx(t), oidSysName)
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v", err)
		}
		t.Log(err)
	})
	t.Run("check deadline bounds the wait", func(t *testing.T) {
		tg := simTarget("ups_eaton_93e")
		tg.Port, tg.Timeout, tg.Retries = freeUDPPort(), 10*time.Second, 3
		s, _ := Dial(tg)
		defer s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := s.Table(ctx, oidIfEntry)
		if err == nil || time.Since(start) > 3*time.Second {
			t.Fatalf("err %v after %s", err, time.Since(start))
		}
	})
	t.Run("noSuchObject", func(t *testing.T) {
		r := run(t, buildCheck(t, "snmp_get", "ups_vertiv", "{oids: [1.3.6.1.2.1.1.5.0, 1.3.6.1.2.1.33.1.2.3.0]}"))
		if r.Status != checks.Unknown || r.Detail != `1.3.6.1.2.1.1.5.0 = "DUMSYS-22"; 1.3.6.1.2.1.33.1.2.3.0: noSuchInstance (the device does not have this OID)` {
			t.Errorf("got %s %q", r.Status, r.Detail)
		}
	})
	t.Run("walk past the end", func(t *testing.T) {
		// The last OID of a recording: GETBULK answers endOfMibView.
		pdus, err := simSession(t, "ups_eaton_93e").Walk(testCtx(t), ".1.3.6.1.9")
		if err != nil || len(pdus) != 0 {
			t.Fatalf("%d PDUs, %v", len(pdus), err)
		}
	})
	t.Run("get with thresholds and match", func(t *testing.T) {
		r := run(t, buildCheck(t, "snmp_get", "ups_eaton_93e", "{oid: 1.3.6.1.2.1.33.1.2.4.0, warning: 90, below: true}"))
		if r.Status != checks.OK || r.Value != 100 {
			t.Errorf("charge: %s %v", r.Status, r.Value)
		}
		r = run(t, buildCheck(t, "snmp_get", "ups_eaton_93e", `{oid: 1.3.6.1.2.1.1.1.0, match: "^APC"}`))
		if r.Status != checks.Critical || !strings.Contains(r.Detail, `"EATON 93E 80 (does not match \"^APC\")"`) {
			t.Errorf("match: %s %q", r.Status, r.Detail)
		}
	})
	t.Run("check of an unanswering device is critical, not an error", func(t *testing.T) {
		c := buildCheck(t, "snmp_uptime", "no-such-community-either", "").(*Uptime)
		c.dev.SNMP.Timeout, c.dev.SNMP.Retries, c.dev.Name = 200*time.Millisecond, 0, "down-dev"
		r := run(t, c)
		if r.Status != checks.Critical || !strings.Contains(r.Detail, "no answer from 127.0.0.1") {
			t.Errorf("got %s %q", r.Status, r.Detail)
		}
	})
}

// brokenAgent answers every GETNEXT/GETBULK with the same OID, like agents
// with a looping table do; a walk must stop with an error.
func TestWalkOIDsNotIncreasing(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go serveLoopingAgent(pc)
	tg := Target{Address: "127.0.0.1", SNMP: checks.SNMP{Port: pc.LocalAddr().(*net.UDPAddr).Port, Version: "2c", Community: "public", Timeout: time.Second}}.WithDefaults()
	for _, v := range []string{"1", "2c"} {
		tg.Version = v
		s, err := Dial(tg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Walk(testCtx(t), ".1.3.6.1.2.1.2.2.1.2")
		s.Close()
		if err == nil || !strings.Contains(err.Error(), "OIDs not increasing") {
			t.Fatalf("v%s: err = %v", v, err)
		}
		t.Log(err)
	}
}

// Traffic rates from a real agent whose counters move: net-snmp's snmpd
// reporting the loopback interface while the test sends traffic over it.
func TestInterfaceRatesFromSnmpd(t *testing.T) {
	port := startSnmpd(t)
	fake := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	tg := Target{Name: "snmpd", Address: "127.0.0.1", SNMP: checks.SNMP{Port: port, Community: "public", Timeout: 2 * time.Second}}.WithDefaults()
	c := &Interfaces{base: base{dev: tg.Device(), snmp: NewPoller(fake), maxAge: time.Second, clock: fake}, o: ifOptions{Interfaces: []string{"lo"}}, downStat: checks.Critical}
	if r := run(t, c); r.Status != checks.OK || !strings.HasPrefix(r.Detail, "1 interfaces: 1 up") || strings.Contains(r.Detail, "busiest") {
		t.Fatalf("first poll: %s %q", r.Status, r.Detail)
	}
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	conn, err := net.Dial("udp", sink.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	payload := make([]byte, 1000)
	for i := 0; i < 2000; i++ { // 2 MB: at least 1.6 Mb/s over the 10 s below
		conn.Write(payload)
	}
	// snmpd refreshes its interface counters every few seconds: wait
	// until it shows the traffic before the second poll.
	s, _ := Dial(tg)
	defer s.Close()
	lo := ""
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ifs, err := ReadInterfaces(testCtx(t), s)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range ifs {
			if it.Name == "lo" {
				lo = fmt.Sprint(it.InOctets)
				if p, ok := c.prev.byIndex[it.Index]; ok && it.InOctets-p.in >= 2_000_000 {
					deadline = time.Time{}
				}
			}
		}
		if deadline.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snmpd never showed the traffic on lo (in octets %s)", lo)
		}
	}
	fake.Advance(10 * time.Second)
	r := run(t, c)
	if r.Status != checks.OK || !strings.Contains(r.Detail, "busiest lo in ") || !strings.Contains(r.Detail, "Mb/s") {
		t.Errorf("second poll: %s %q", r.Status, r.Detail)
	}
}
