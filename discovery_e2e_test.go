//go:build linux

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"outpost/checks/discovery"
	"outpost/store"
)

// The discovery tests build a small LAN of network namespaces: a scanner
// namespace with a bridge (10.200.7.1/24) and one namespace per host,
// each on a veth pair into the bridge with its own address and MAC. The
// sweep runs inside the scanner namespace (the real binary under `ip
// netns exec`), so no packet leaves the machine's own namespaces.

const fleetNet = "10.200.7.0/24"

type fleet struct {
	t       testing.TB
	prefix  string
	scanner string
	procs   []*exec.Cmd
	nss     []string
}

// needNetns skips (fails under CI=true) when namespaces cannot be made.
func needNetns(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root to create network namespaces"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "needs iproute2's ip"
	} else {
		name := fmt.Sprintf("odprobe%d", os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			why = "cannot create a network namespace: " + strings.TrimSpace(string(out))
		} else {
			exec.Command("ip", "netns", "del", name).Run()
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func (f *fleet) sh(args ...string) string {
	f.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		f.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newFleet(t testing.TB) *fleet {
	needNetns(t)
	f := &fleet{t: t, prefix: fmt.Sprintf("od%d", os.Getpid()%100000)}
	f.scanner = f.prefix + "s"
	f.addNS(f.scanner)
	f.sh("ip", "-n", f.scanner, "link", "add", "br0", "type", "bridge")
	f.sh("ip", "-n", f.scanner, "addr", "add", "10.200.7.1/24", "dev", "br0")
	f.sh("ip", "-n", f.scanner, "link", "set", "br0", "up")
	// Reverse DNS from a hosts file; the resolver is the namespace's own
	// loopback, so no lookup leaves it.
	etc := filepath.Join("/etc/netns", f.scanner)
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644)
	os.WriteFile(filepath.Join(etc, "hosts"), []byte("127.0.0.1 localhost\n10.200.7.10 web1.test\n"), 0o644)
	t.Cleanup(func() {
		for _, p := range f.procs {
			p.Process.Kill()
			p.Wait()
		}
		for _, ns := range f.nss {
			exec.Command("ip", "netns", "del", ns).Run()
		}
		os.RemoveAll(etc)
	})
	return f
}

func (f *fleet) addNS(name string) {
	f.sh("ip", "netns", "add", name)
	f.nss = append(f.nss, name)
	f.sh("ip", "-n", name, "link", "set", "lo", "up")
}

// addHost makes host namespace name with ip and mac on a veth into the
// bridge; icmp false makes it drop echo requests (it still answers ARP).
func (f *fleet) addHost(name, ip, mac string, icmp bool) string {
	ns := f.prefix + name
	f.addNS(ns)
	peer := "v" + name
	f.sh("ip", "-n", f.scanner, "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", ns)
	f.sh("ip", "-n", f.scanner, "link", "set", peer, "master", "br0", "up")
	f.sh("ip", "-n", ns, "link", "set", "eth0", "address", mac)
	f.sh("ip", "-n", ns, "addr", "add", ip+"/24", "dev", "eth0")
	f.sh("ip", "-n", ns, "link", "set", "eth0", "up")
	if !icmp {
		f.sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1")
	}
	return ns
}

func (f *fleet) delHost(name string) {
	ns := f.prefix + name
	f.sh("ip", "netns", "del", ns)
	f.nss = slices.DeleteFunc(f.nss, func(s string) bool { return s == ns })
}

func (f *fleet) moveHost(name, from, to string) {
	ns := f.prefix + name
	f.sh("ip", "-n", ns, "addr", "del", from+"/24", "dev", "eth0")
	f.sh("ip", "-n", ns, "addr", "add", to+"/24", "dev", "eth0")
}

// inNS runs fn with the calling thread in namespace ns: sockets made then
// belong to ns for good, and the test process serves them from any thread.
func inNS(t testing.TB, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return // leave the thread locked: it dies with the goroutine
	}
	runtime.UnlockOSThread()
}

// listen opens TCP listeners in ns on ip:port for each port; web ports
// serve a page with a title (443 over TLS with a certificate naming
// certName), the others accept and close.
func (f *fleet) listen(ns, ip string, title, certName string, ports ...int) {
	for _, p := range ports {
		var ln net.Listener
		var err error
		inNS(f.t, ns, func() { ln, err = net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p))) })
		if err != nil {
			f.t.Fatal(err)
		}
		f.t.Cleanup(func() { ln.Close() })
		page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "<html><head><title>%s</title></head><body>ok</body></html>", title)
		})
		switch p {
		case 80:
			go (&http.Server{Handler: page, ErrorLog: quiet}).Serve(ln)
		case 443:
			go (&http.Server{Handler: page, ErrorLog: quiet}).Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{selfSigned(f.t, certName)}}))
		default:
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
		}
	}
}

// quiet drops the servers' complaints about port probes that connect and
// close without a request.
var quiet = log.New(io.Discard, "", 0)

func selfSigned(t testing.TB, name string) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name, "www." + name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// snmpsim serves recording (a file path) in ns on ip:161 under the
// community "outpost-test".
func (f *fleet) snmpsim(ns, ip, recording string) {
	bin, err := exec.LookPath("snmpsimd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			f.t.Fatal("snmpsimd not found")
		}
		f.t.Skip("snmpsimd not found (Debian snmpsim)")
	}
	// snmpsimd drops to nobody, who must reach the files: not under
	// t.TempDir (its parent is private).
	dir, err := os.MkdirTemp("", "outpost-discovery-sim-")
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { os.RemoveAll(dir) })
	data, cache := filepath.Join(dir, "data"), filepath.Join(dir, "cache")
	os.MkdirAll(data, 0o755)
	os.MkdirAll(cache, 0o755)
	b, err := os.ReadFile(recording)
	if err != nil {
		f.t.Fatal(err)
	}
	os.WriteFile(filepath.Join(data, "outpost-test.snmprec"), b, 0o644)
	u, _ := user.Lookup("nobody")
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	g, _ := user.LookupGroupId(u.Gid)
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { os.Lchown(p, uid, gid); return nil })
	os.Chmod(dir, 0o755)
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "--data-dir="+data, "--cache-dir="+cache, "--logging-method=null",
		"--agent-udpv4-endpoint="+ip+":161", "--process-user=nobody", "--process-group="+g.Name)
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.procs = append(f.procs, cmd)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("ip", "netns", "exec", ns, binPath, "snmp", "probe", "--target", ip, "--community", "outpost-test",
			"--deadline", "2s", "--timeout", "500ms", "--json").Output()
		if strings.Contains(string(out), `"object_id"`) && !strings.Contains(string(out), `"object_id": ""`) {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	f.t.Fatalf("snmpsimd in %s did not answer", ns)
}

// sweep runs `outpost discover` in the scanner namespace.
func (f *fleet) sweep(args ...string) (*discovery.Result, string) {
	f.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", f.scanner, binPath, "discover", "--subnet", fleetNet, "--json"}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		f.t.Fatalf("discover: %v\n%s", err, stderr.String())
	}
	var r discovery.Result
	if err := json.Unmarshal(out, &r); err != nil {
		f.t.Fatalf("discover --json: %v\n%s", err, out)
	}
	return &r, stderr.String()
}

// nmap sweeps the same subnet with `nmap -sn` in the scanner namespace.
func (f *fleet) nmap() []string {
	if _, err := exec.LookPath("nmap"); err != nil {
		if os.Getenv("CI") == "true" {
			f.t.Fatal("nmap not found")
		}
		f.t.Log("nmap not found (Debian nmap): not compared")
		return nil
	}
	out := f.sh("ip", "netns", "exec", f.scanner, "nmap", "-sn", "-n", "-oG", "-", fleetNet)
	var up []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Host: ") && strings.Contains(l, "Status: Up") {
			up = append(up, strings.Fields(l)[1])
		}
	}
	sort.Strings(up)
	return up
}

func hostSet(r *discovery.Result) []string {
	var s []string
	for _, h := range r.Hosts {
		s = append(s, h.IP.String())
	}
	sort.Strings(s)
	return s
}

func byIP(r *discovery.Result) map[string]discovery.Host {
	m := map[string]discovery.Host{}
	for _, h := range r.Hosts {
		m[h.IP.String()] = h
	}
	return m
}

func sightings(r *discovery.Result) []store.Sighting {
	var out []store.Sighting
	for _, h := range r.Hosts {
		out = append(out, store.Sighting{IP: h.IP.String(), MAC: h.MAC, Vendor: h.Vendor, Class: h.Class, Confidence: h.Confidence,
			Evidence: h.Evidence, Ports: h.OpenPorts})
	}
	return out
}

// hpPrinter is the GPL printer recording, read from outside the
// repository (../shared/snmprec/README.md).
var hpPrinter = filepath.Join("..", "shared", "snmprec", "printer_hp_m452nw.snmprec")

func TestDiscoverySweepsANamespaceLAN(t *testing.T) {
	f := newFleet(t)
	web := f.addHost("web", "10.200.7.10", "00:16:3e:00:07:10", true)
	f.listen(web, "10.200.7.10", "Outpost test web", "web1.test", 22, 80, 443)
	quiet := f.addHost("quiet", "10.200.7.11", "00:16:3e:00:07:11", false) // drops ICMP
	f.listen(quiet, "10.200.7.11", "", "", 445)
	f.addHost("echo", "10.200.7.12", "00:16:3e:00:07:12", true) // answers ICMP only; moves later
	f.addHost("leaver", "10.200.7.13", "00:16:3e:00:07:13", true)
	sw := f.addHost("switch", "10.200.7.21", "00:05:5d:00:07:21", true) // D-Link OUI
	f.snmpsim(sw, "10.200.7.21", filepath.Join("checks", "discovery", "testdata", "snmprec", "switch_dlink_des3038.snmprec"))
	ups := f.addHost("ups", "10.200.7.22", "00:20:85:00:07:22", true) // Eaton OUI
	f.snmpsim(ups, "10.200.7.22", filepath.Join("checks", "discovery", "testdata", "snmprec", "ups_eaton_93e.snmprec"))
	want := []string{"10.200.7.1", "10.200.7.10", "10.200.7.11", "10.200.7.12", "10.200.7.13", "10.200.7.21", "10.200.7.22"}
	printer := false
	if _, err := os.Stat(hpPrinter); err == nil {
		pr := f.addHost("printer", "10.200.7.20", "3c:d9:2b:00:07:20", true) // Hewlett Packard OUI
		f.listen(pr, "10.200.7.20", "", "", 9100)
		f.snmpsim(pr, "10.200.7.20", hpPrinter)
		want = append(want, "10.200.7.20")
		sort.Strings(want)
		printer = true
	} else {
		t.Log("printer recording absent (GPL, kept in ../shared/snmprec): the fleet has no printer")
	}

	r1, said := f.sweep("--community", "outpost-test")
	t.Logf("sweep 1: %s%d probes in %s", said, r1.Probes, r1.Took)
	if !strings.Contains(said, "254 addresses at 100 probes/s: about") {
		t.Errorf("no estimate up front: %q", said)
	}
	if got := hostSet(r1); !slices.Equal(got, want) {
		t.Fatalf("sweep 1 found %v, want %v", got, want)
	}
	if rate := float64(r1.Probes) / r1.Took.Seconds(); rate > 100*1.05 {
		t.Errorf("%d probes in %s: %.0f/s, over the 100/s ceiling", r1.Probes, r1.Took, rate)
	}
	if nm := f.nmap(); nm != nil && !slices.Equal(nm, want) {
		t.Errorf("nmap -sn found %v, the sweep %v", nm, want)
	}
	h := byIP(r1)
	t.Run("server with web pages", func(t *testing.T) {
		w := h["10.200.7.10"]
		if w.Class != "server" || !slices.Equal(w.OpenPorts, []int{22, 80, 443}) || !w.ICMP || w.MAC != "00:16:3e:00:07:10" {
			t.Errorf("%+v", w)
		}
		if !slices.Contains(w.Names, "web1.test") {
			t.Errorf("reverse DNS: %v", w.Names)
		}
		if !strings.Contains(strings.ToLower(w.Vendor), "xensource") {
			t.Errorf("vendor %q", w.Vendor)
		}
		titles := map[int]discovery.Web{}
		for _, p := range w.Web {
			titles[p.Port] = p
		}
		if titles[80].Title != "Outpost test web" || titles[443].Title != "Outpost test web" || !slices.Contains(titles[443].CertNames, "www.web1.test") {
			t.Errorf("web %+v", w.Web)
		}
	})
	t.Run("host that drops ICMP is found by ARP", func(t *testing.T) {
		q := h["10.200.7.11"]
		if q.ICMP || !q.ARP || q.Class != "workstation" || !slices.Contains(q.Evidence, "port 445 open (SMB) without RDP or SSH") {
			t.Errorf("%+v", q)
		}
	})
	t.Run("echo only is unknown", func(t *testing.T) {
		if e := h["10.200.7.12"]; e.Class != "unknown" || e.Confidence != 0 {
			t.Errorf("%+v", e)
		}
	})
	t.Run("switch by BRIDGE-MIB", func(t *testing.T) {
		s := h["10.200.7.21"]
		if s.Class != "switch" || s.SNMP == nil || !strings.Contains(s.SNMP.Descr, "DES-3028") || !strings.Contains(strings.Join(s.Evidence, ";"), "BRIDGE-MIB answers") ||
			!strings.Contains(strings.ToLower(s.Vendor), "d-link") {
			t.Errorf("%+v %+v", s, s.SNMP)
		}
	})
	t.Run("UPS by UPS-MIB", func(t *testing.T) {
		u := h["10.200.7.22"]
		if u.Class != "ups" || !slices.Contains(u.Evidence, "UPS-MIB answers") {
			t.Errorf("%+v %+v", u, u.SNMP)
		}
	})
	if printer {
		t.Run("printer by Printer-MIB and port 9100", func(t *testing.T) {
			p := h["10.200.7.20"]
			ev := strings.Join(p.Evidence, "; ")
			if p.Class != "printer" || !strings.Contains(ev, "Printer-MIB answers") || !strings.Contains(ev, "port 9100 open") || p.Confidence < 0.9 ||
				!strings.Contains(strings.ToLower(p.Vendor), "hewlett packard") {
				t.Errorf("%+v", p)
			}
		})
	}

	st, err := store.Open(filepath.Join(t.TempDir(), "o.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs, err := st.RecordSweep(fleetNet, r1.Started, sightings(r1))
	if err != nil || len(cs) != len(want) {
		t.Fatalf("first sweep recorded %d changes (%v), want %d new devices", len(cs), err, len(want))
	}

	// Between the sweeps one host leaves, one arrives, one moves.
	f.delHost("leaver")
	f.addHost("newcomer", "10.200.7.14", "00:16:3e:00:07:14", true)
	f.moveHost("echo", "10.200.7.12", "10.200.7.15")
	want2 := slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == "10.200.7.12" || s == "10.200.7.13" })
	want2 = append(want2, "10.200.7.14", "10.200.7.15")
	sort.Strings(want2)

	r2, _ := f.sweep("--community", "outpost-test", "--rate", "1000")
	t.Logf("sweep 2: %d probes in %s", r2.Probes, r2.Took)
	if got := hostSet(r2); !slices.Equal(got, want2) {
		t.Fatalf("sweep 2 found %v, want %v", got, want2)
	}
	if nm := f.nmap(); nm != nil && !slices.Equal(nm, want2) {
		t.Errorf("nmap -sn found %v, the sweep %v", nm, want2)
	}
	cs, err = st.RecordSweep(fleetNet, r2.Started, sightings(r2))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range cs {
		got[c.Kind] += c.IP + " "
	}
	if got[store.ChangeNewDevice] != "10.200.7.14 " || got[store.ChangeGone] != "10.200.7.13 " || got[store.ChangeMACMoved] != "10.200.7.15 " || len(cs) != 3 {
		t.Errorf("changes %+v", cs)
	}
	for _, c := range cs {
		if c.Kind == store.ChangeMACMoved && (c.OldIP != "10.200.7.12" || c.MAC != "00:16:3e:00:07:12") {
			t.Errorf("moved %+v", c)
		}
	}

	t.Run("suggested checks are only what answered", func(t *testing.T) {
		cmd := exec.Command("ip", "netns", "exec", f.scanner, binPath, "discover", "--subnet", fleetNet, "--suggest", "--rate", "1000", "--community", "outpost-test")
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		s := string(out)
		for _, w := range []string{"kind: snmp_interfaces", "kind: snmp_ups", "target: 10.200.7.10:22", "kind: ping", "community: outpost-test"} {
			if !strings.Contains(s, w) {
				t.Errorf("suggestion lacks %q:\n%s", w, s)
			}
		}
		if printer && !strings.Contains(s, "kind: snmp_printer") {
			t.Errorf("no snmp_printer:\n%s", s)
		}
		if strings.Count(s, "kind: snmp_") != map[bool]int{true: 3, false: 2}[printer] {
			t.Errorf("an SNMP check for a host that cannot answer it:\n%s", s)
		}
		if strings.Contains(s, "10.200.7.11:445") == false {
			t.Errorf("no tcp check for the ICMP-silent host:\n%s", s)
		}
	})
}

// TestDiscoveryDaemonSweepsEnabledSubnets runs the daemon in the scanner
// namespace with one subnet enabled: its first sweep records every host
// in the store and logs each as a new device.
func TestDiscoveryDaemonSweepsEnabledSubnets(t *testing.T) {
	f := newFleet(t)
	web := f.addHost("web", "10.200.7.10", "00:16:3e:00:07:10", true)
	f.listen(web, "10.200.7.10", "Outpost test web", "web1.test", 22, 80)
	f.addHost("echo", "10.200.7.12", "00:16:3e:00:07:12", true)
	cfg := writeConfig(t, `site: Acme
ui: {disabled: true}
discovery:
  rate: 500
  interval: 1h
  subnets:
    - {cidr: 10.200.7.0/24, enabled: true}
    - {cidr: 10.200.8.0/24}
`)
	data := t.TempDir()
	var logs syncBuffer
	cmd := exec.Command("ip", "netns", "exec", f.scanner, binPath, "run", "--config", cfg, "--data", data, "--listen", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	defer stop()
	waitFor(t, "the first discovery sweep", 60*time.Second, func() string { // first look 10 s after start
		if strings.Contains(logs.String(), "discovery sweep done") {
			return ""
		}
		return "no sweep yet; log:\n" + logs.String()
	})
	stop()
	out := logs.String()
	for _, ip := range []string{"10.200.7.10", "10.200.7.12"} {
		if !strings.Contains(out, "kind=new_device ip="+ip) {
			t.Errorf("no new_device for %s in the log:\n%s", ip, out)
		}
	}
	if strings.Contains(out, "10.200.8.0/24") {
		t.Errorf("a subnet not enabled was swept:\n%s", out)
	}
	st, err := store.Open(filepath.Join(data, "outpost.db"), store.Options{})
	if err != nil {
		t.Skip("store not readable without the daemon's key: ", err)
	}
	defer st.Close()
	inv, _ := st.Inventory()
	var ips []string
	for _, d := range inv {
		ips = append(ips, d.IP+"="+d.Class)
	}
	if want := []string{"10.200.7.1=server", "10.200.7.10=server", "10.200.7.12=unknown"}; !slices.Equal(ips, want) {
		t.Errorf("inventory %v, want %v", ips, want)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// BenchmarkDiscoverySweep sweeps a /24 with 20 live hosts (each answers
// ICMP; every fourth has SSH and a web page) at the default ceiling and
// at 1000 probes/s, no SNMP:
// go test -run '^$' -bench DiscoverySweep -benchtime 1x .
func BenchmarkDiscoverySweep(b *testing.B) {
	f := newFleet(b)
	for i := 0; i < 20; i++ {
		ip := fmt.Sprintf("10.200.7.%d", 100+i)
		ns := f.addHost(fmt.Sprintf("b%d", i), ip, fmt.Sprintf("00:16:3e:00:08:%02x", i), true)
		if i%4 == 0 {
			f.listen(ns, ip, "bench", "bench.test", 22, 80)
		}
	}
	for _, rate := range []int{discovery.DefaultRate, 1000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				cmd := exec.Command("ip", "netns", "exec", f.scanner, binPath, "discover", "--subnet", fleetNet, "--json", "--rate", strconv.Itoa(rate), "--no-dns")
				out, err := cmd.Output()
				if err != nil {
					b.Fatal(err)
				}
				var r discovery.Result
				if err := json.Unmarshal(out, &r); err != nil || len(r.Hosts) != 21 {
					b.Fatalf("%d hosts (%v)", len(r.Hosts), err)
				}
				b.ReportMetric(r.Took.Seconds(), "s/sweep")
				b.ReportMetric(float64(r.Probes), "probes/sweep")
				// CPU of the whole outpost process (start-up, OUI table included).
				b.ReportMetric((cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime()).Seconds()*1000, "cpu-ms/sweep")
			}
		})
	}
}

// TestDiscoverRefusesBadInput: wrong flags and a bad discovery: section
// are refused before anything is sent.
func TestDiscoverRefusesBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"discover"}, "--subnet is required"},
		{[]string{"discover", "--subnet", "10.0.0.0/8"}, "10.0.0.0/8 has 16777214 addresses, more than a sweep takes (65534, a /16)"},
		{[]string{"discover", "--subnet", "2001:db8::/120"}, "only IPv4 subnets are swept"},
		{[]string{"discover", "--subnet", "192.0.2.1"}, `--subnet "192.0.2.1" is not a CIDR subnet`},
		{[]string{"discover", "--subnet", "127.0.0.0/30", "--rate", "0"}, "--rate 0: the ceiling is 1 to 5000 probes/s"},
		{[]string{"discover", "--subnet", "127.0.0.0/30", "--ports", "22,x"}, `--ports: "x" is not a port number`},
	} {
		out, code := outpost(t, c.args...)
		if code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("outpost %s: exit %d, want 2 and %q:\n%s", strings.Join(c.args, " "), code, c.want, out)
		}
	}
	cfg := writeConfig(t, `site: Acme
discovery:
  subnets:
    - {cidr: 10.0.0.0/8, enabled: true}
`)
	out, code := outpost(t, "check", "--config", cfg)
	if code == 0 || !strings.Contains(out, ":4: discovery.subnets[0].cidr: 10.0.0.0/8 is larger than a /16") {
		t.Errorf("check: exit %d\n%s", code, out)
	}
}
