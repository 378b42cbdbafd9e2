//go:build linux

package main

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	bolt "go.etcd.io/bbolt"

	"outpost/appliance/hq"
)

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it,
// written as PEM files; it returns the CA file, the server cert and key
// files, and the server certificate for in-process servers.
func testCA(t *testing.T, dir, name string) (caFile, certFile, keyFile string, cert tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "hq"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"hq.test"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, name+"-ca.pem"), filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return
}

// faultProxy sits between the box and hq (HTTPS, trusted by the box's
// pinned CA) and misbehaves on demand, the way a WAN and a busy receiver
// do.
type faultProxy struct {
	mode      atomic.Value // string
	good, bad tls.Certificate
	hits      atomic.Int64
	held      atomic.Int64 // answers hq gave that "slow" is holding back
	dropped   atomic.Int64 // answers carrying a bundle that "dropbundle" cut off
	addr      string
}

func newFaultProxy(t *testing.T, target string, good, bad tls.Certificate) *faultProxy {
	p := &faultProxy{good: good, bad: bad}
	p.mode.Store("pass")
	u, _ := url.Parse("https://" + target)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // the test's own hop to hq
	rp.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		switch p.mode.Load().(string) {
		case "500":
			http.Error(w, "receiver database down", http.StatusInternalServerError)
		case "429":
			w.Header().Set("Retry-After", "2")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case "reset":
			c, _, _ := w.(http.Hijacker).Hijack()
			c.(*tls.Conn).NetConn().(*net.TCPConn).SetLinger(0) // RST, not FIN
			c.Close()
		case "wrongcert":
			// Reached over a connection made before the switch: close it,
			// so the box's next handshake meets the impostor.
			w.Header().Set("Connection", "close")
			http.Error(w, "switching certificates", http.StatusServiceUnavailable)
		case "dropbundle":
			// hq stores the summary and answers with the bundle it holds
			// for the box; the first such answer is lost on the way back
			// (the connection cut), the way a WAN loses one.
			rec := &bufferedWriter{h: http.Header{}}
			rp.ServeHTTP(rec, r)
			if bytes.Contains(rec.buf.Bytes(), []byte(`"bundle"`)) && p.dropped.CompareAndSwap(0, 1) {
				c, _, _ := w.(http.Hijacker).Hijack()
				c.Close()
				return
			}
			for k, v := range rec.h {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.code)
			w.Write(rec.buf.Bytes())
		case "slow":
			// hq stores the summary; the answer is held back until the
			// box goes away (killed by the test) or gives up on it.
			rec := &bufferedWriter{h: http.Header{}}
			rp.ServeHTTP(rec, r)
			p.held.Add(1)
			select {
			case <-r.Context().Done():
			case <-time.After(2 * patience):
			}
			for k, v := range rec.h {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.code)
			w.Write(rec.buf.Bytes())
		default:
			rp.ServeHTTP(w, r)
		}
	}), TLSConfig: &tls.Config{NextProtos: []string{"http/1.1"}, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		if p.mode.Load().(string) == "wrongcert" {
			return &p.bad, nil
		}
		return &p.good, nil
	}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return p
}

type bufferedWriter struct {
	h    http.Header
	code int
	buf  bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.h }
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = 200
	}
	return b.buf.Write(p)
}
func (b *bufferedWriter) WriteHeader(c int) { b.code = c }

func startHQ(t *testing.T, data, listen, uiListen, cert, key string) *exec.Cmd {
	t.Helper()
	cmd, _ := startHQLog(t, data, listen, uiListen, cert, key)
	return cmd
}

// startHQLog runs a real `outpost hq run` (with extra flags) and
// returns it with its log.
func startHQLog(t *testing.T, data, listen, uiListen, cert, key string, extra ...string) (*exec.Cmd, *logTail) {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"hq", "run", "--data", data, "--listen", listen, "--ui-listen", uiListen, "--cert", cert, "--key", key}, extra...)...)
	lt := &logTail{}
	lt.follow(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "hq to answer hq list", patience, func() string {
		if _, code := outpost(t, "hq", "list", "--data", data); code != 0 {
			return "hq never answered:\n" + lt.String()
		}
		return ""
	})
	return cmd, lt
}

// fleetLogin makes a fleet page account with `outpost hq user add`
// (password on standard input), checks that the pages want a login, and
// returns a client logged in through the real form.
func fleetLogin(t *testing.T, hqData, uiAddr string) *http.Client {
	t.Helper()
	const pw = "Correct-Horse-9"
	cmd := exec.Command(binPath, "hq", "user", "add", "alice", "--data", hqData)
	cmd.Stdin = strings.NewReader(pw + "\n")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "created user alice") {
		t.Fatalf("hq user add: %v %s", err, out)
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: patience}
	resp, err := client.Get("http://" + uiAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("the fleet page without a login went to %s", resp.Request.URL)
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(form)
	if m == nil {
		t.Fatalf("login form:\n%s", form)
	}
	resp, err = client.PostForm("http://"+uiAddr+"/login", url.Values{"user": {"alice"}, "password": {pw}, "csrf": {string(m[1])}, "next": {"/"}})
	if err != nil || resp.StatusCode != 200 || resp.Request.URL.Path != "/" {
		t.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()
	return client
}

type phoneStatus struct {
	Depth        int    `json:"depth"`
	NextSeq      uint64 `json:"next_seq"`
	LastAck      uint64 `json:"last_ack"`
	LastError    string `json:"last_error"`
	Duplicates   int    `json:"duplicates_acked"`
	Failures     int    `json:"consecutive_failures"`
	Renumbered   int    `json:"renumbered"`
	LastRenumber string `json:"last_renumber"`
}

func phoneStatusOf(t *testing.T, data string) phoneStatus {
	t.Helper()
	out, code := outpost(t, "phonehome", "status", "--json", "--data", data)
	var st phoneStatus
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		return phoneStatus{LastError: "status unavailable: " + out}
	}
	return st
}

// TestPhoneHomeToRealHQ runs a real box and a real `outpost hq` on
// loopback over HTTPS, with a proxy between them that plays WAN outages,
// errors, slow answers, resets and a wrong certificate.
func TestPhoneHomeToRealHQ(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, good := testCA(t, dir, "hq")
	_, _, _, bad := testCA(t, dir, "impostor")
	hqData, boxData := t.TempDir(), t.TempDir()
	hqAddr, uiAddr := freePort(t), freePort(t)
	hqCmd := startHQ(t, hqData, hqAddr, uiAddr, certFile, keyFile)
	proxy := newFaultProxy(t, hqAddr, good, bad)

	cfg := writeConfig(t, fmt.Sprintf(`site: Acme Dental
phonehome: {url: 'https://%s/v1/summaries', interval: 300ms, ca_file: '%s', backoff_max: 1s}
devices:
  - {name: nas, class: server}
checks:
  - {id: nas-port, kind: tcp, target: 127.0.0.1:1, interval: 1s, labels: {device: nas}}
`, proxy.addr, caFile))
	box, boxLog := startBox(t, cfg, boxData)
	out, _ := outpost(t, "bundle", "status", "--data", boxData)
	id := regexp.MustCompile(`box id:\s+(ob-[0-9a-f]+)`).FindStringSubmatch(out)
	key := regexp.MustCompile(`box public key:\s+(ed25519:\S+)`).FindStringSubmatch(out)
	if id == nil || key == nil {
		t.Fatalf("bundle status:\n%s", out)
	}
	statusShows := func(what string) {
		t.Helper()
		waitFor(t, fmt.Sprintf("phonehome status to show %q", what), patience, func() string {
			if st := phoneStatusOf(t, boxData); !strings.Contains(st.LastError, what) {
				return fmt.Sprintf("phonehome status never showed %q: %+v\nbox log:\n%s", what, st, boxLog.String())
			}
			return ""
		})
	}

	// Not registered yet; another key under the box's id is refused (the
	// id is made from the key), then the box's own key is registered.
	statusShows("is not registered")
	other := "ed25519:" + strings.Repeat("A", 43) + "="
	if out, code := outpost(t, "hq", "register", "--box", id[1], "--key", other, "--site", "Acme", "--data", hqData); code == 0 || !strings.Contains(out, "is the key of box") {
		t.Fatalf("register with another key: %d %s", code, out)
	}
	if out, code := outpost(t, "hq", "register", "--box", id[1], "--key", key[1], "--data", hqData); code != 0 || !strings.Contains(out, "registered box "+id[1]) {
		t.Fatalf("register: %s", out)
	}
	drained := func() {
		t.Helper()
		waitFor(t, "the outbox to drain", patience, func() string {
			st := phoneStatusOf(t, boxData)
			if st.Depth != 0 || st.LastAck == 0 || st.LastAck != st.NextSeq-1 {
				return fmt.Sprintf("outbox not drained: %+v", st)
			}
			return ""
		})
	}
	drained()

	// A WAN outage covering many summaries: hq stopped, then back.
	hqCmd.Process.Signal(syscall.SIGTERM)
	hqCmd.Wait()
	statusShows("502 Bad Gateway") // the proxy cannot reach hq
	waitFor(t, "5 summaries queued during the outage", patience, func() string {
		if st := phoneStatusOf(t, boxData); st.Depth < 5 {
			return fmt.Sprintf("outage: only %d summaries queued: %+v", st.Depth, st)
		}
		return ""
	})
	hqCmd = startHQ(t, hqData, hqAddr, uiAddr, certFile, keyFile)
	drained()

	// The receiver failing in the ways receivers fail.
	for _, c := range []struct{ mode, shows string }{
		{"500", "receiver answered 500 Internal Server Error: receiver database down"},
		{"429", "retry after 2s"},
		{"reset", ""},
		{"wrongcert", "certificate signed by unknown authority"},
	} {
		proxy.mode.Store(c.mode)
		if c.shows != "" {
			statusShows(c.shows)
		} else {
			waitFor(t, "reset connections counted as failures", patience, func() string {
				// A reset comes as "connection reset by peer" or as an EOF,
				// depending on when the RST lands.
				if st := phoneStatusOf(t, boxData); st.Failures == 0 || !(strings.Contains(st.LastError, "reset") || strings.Contains(st.LastError, "EOF")) {
					return fmt.Sprintf("reset connections not seen as failures: %+v", st)
				}
				return ""
			})
		}
		proxy.mode.Store("pass")
		drained()
	}

	// Killed while hq's answer is on its way: hq has the summary, the box
	// does not know; after the restart it sends it again and hq drops it.
	before := proxy.held.Load()
	proxy.mode.Store("slow")
	waitFor(t, "hq to store a summary whose answer the proxy holds back", patience, func() string {
		if proxy.held.Load() == before {
			return fmt.Sprintf("no answer held yet (%d requests reached the proxy)", proxy.hits.Load())
		}
		return ""
	})
	box.Process.Signal(syscall.SIGKILL)
	box.Wait()
	proxy.mode.Store("pass")
	box, boxLog = startBox(t, cfg, boxData)
	drained()
	if st := phoneStatusOf(t, boxData); st.Duplicates < 1 {
		t.Fatalf("the re-sent summary was not acknowledged as a duplicate: %+v", st)
	}

	// The fleet page shows the site, after a login with an account made
	// on the receiver; to another Host name it answers 421.
	client := fleetLogin(t, hqData, uiAddr)
	resp, err := client.Get("http://" + uiAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Acme Dental") || !strings.Contains(string(page), id[1]) {
		t.Fatalf("fleet page:\n%s", page)
	}
	resp, err = client.Get("http://" + uiAddr + "/boxes/" + id[1])
	if err == nil {
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err != nil || !strings.Contains(string(page), "nas-port") {
		t.Fatalf("box page (the open incident on nas-port): %v\n%s", err, page)
	}
	req, _ := http.NewRequest("GET", "http://"+uiAddr+"/", nil)
	req.Host = "rebind.attacker.example"
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("fleet page for another Host: %v %v", resp, err)
	}

	// Every summary arrived exactly once, in order, and matches the
	// documented schema.
	kill(box)
	hqCmd.Process.Signal(syscall.SIGTERM)
	hqCmd.Wait()
	validateStored(t, hqData, id[1])
	srv, err := hq.Open(filepath.Join(hqData, "hq.db"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	seqs, _ := srv.Seqs(id[1])
	if len(seqs) < 10 {
		t.Fatalf("only %d summaries stored", len(seqs))
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("stored sequence has a gap or a duplicate at %d: %v", i, seqs)
		}
	}
	boxes, _ := srv.Boxes()
	if len(boxes) != 1 || boxes[0].Duplicates < 1 || boxes[0].Lost != 0 {
		t.Fatalf("hq's record of the box: %+v", boxes)
	}
	sums, err := srv.Summaries(id[1], 1000)
	if err != nil {
		t.Fatal(err)
	}
	// nas-port and the built-in checks (the box's clock, its store).
	if sums[0].Health.Checks < 2 || sums[0].Health.Critical != 1 || len(sums[0].OpenIncidents) != 1 || sums[0].OpenIncidents[0].Check != "nas-port" {
		t.Fatalf("newest summary: %+v", sums[0])
	}
}

// validateStored checks every summary hq stored for box, as the box
// sent it (not re-encoded by hq), against docs/phone-home.schema.json,
// and returns the decoded JSON of each. hq must be stopped.
func validateStored(t *testing.T, hqData, box string) []map[string]any {
	t.Helper()
	sch := compileSchema(t)
	raw, err := bolt.Open(filepath.Join(hqData, "hq.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var docs []map[string]any
	err = raw.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("summaries")).Bucket([]byte(box)).ForEach(func(k, body []byte) error {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				return err
			}
			v, err := jsonschema.UnmarshalJSON(zr)
			if err != nil {
				return err
			}
			if err := sch.Validate(v); err != nil {
				return fmt.Errorf("summary %x as sent does not match docs/phone-home.schema.json: %v", k, err)
			}
			doc, _ := v.(map[string]any)
			docs = append(docs, doc)
			return nil
		})
	})
	if err != nil || len(docs) == 0 {
		t.Fatalf("validating %d stored summaries: %v", len(docs), err)
	}
	return docs
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	f, err := os.Open("docs/phone-home.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("phone-home.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("phone-home.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPhoneHomeThroughProxy: with HTTPS_PROXY set the box reaches hq
// through the proxy (CONNECT), and still verifies hq's certificate. The
// name hq.test is resolved by the proxy only (to loopback), never by the
// box.
func TestPhoneHomeThroughProxy(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, _ := testCA(t, dir, "hq")
	hqData, boxData := t.TempDir(), t.TempDir()
	hqAddr := freePort(t)
	startHQ(t, hqData, hqAddr, freePort(t), certFile, keyFile)
	_, hqPort, _ := net.SplitHostPort(hqAddr)
	var connects atomic.Int64
	var seen atomic.Value
	proxy := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		connects.Add(1)
		seen.Store(r.Host)
		up, err := net.Dial("tcp", "127.0.0.1:"+hqPort)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		c, buf, _ := w.(http.Hijacker).Hijack()
		go func() { io.Copy(up, buf); up.Close() }()
		io.Copy(c, up)
		c.Close()
	})}
	pln, _ := net.Listen("tcp", "127.0.0.1:0")
	go proxy.Serve(pln)
	defer proxy.Close()

	cfg := writeConfig(t, fmt.Sprintf("site: Proxied\nphonehome: {url: 'https://hq.test:%s/v1/summaries', interval: 300ms, ca_file: '%s', backoff_max: 1s}\nchecks: []\n", hqPort, caFile))
	startBox(t, cfg, boxData, "HTTPS_PROXY=http://"+pln.Addr().String(), "NO_PROXY=")
	out, _ := outpost(t, "bundle", "status", "--data", boxData)
	id := regexp.MustCompile(`box id:\s+(ob-[0-9a-f]+)`).FindStringSubmatch(out)
	key := regexp.MustCompile(`box public key:\s+(ed25519:\S+)`).FindStringSubmatch(out)
	if out, code := outpost(t, "hq", "register", "--box", id[1], "--key", key[1], "--data", hqData); code != 0 {
		t.Fatal(out)
	}
	waitFor(t, "a summary delivered through the proxy", patience, func() string {
		if st := phoneStatusOf(t, boxData); st.LastAck == 0 || st.Depth != 0 {
			return fmt.Sprintf("not delivered through the proxy: %+v", st)
		}
		return ""
	})
	if connects.Load() == 0 || seen.Load() != "hq.test:"+hqPort {
		t.Fatalf("proxy saw %d CONNECTs, last to %v", connects.Load(), seen.Load())
	}
}

// TestPhoneHomeStartsOnConfigChange: a box running without phone home
// starts phoning home when a new config sets it (here SIGHUP; a UI edit
// or a provisioning bundle goes the same way), and follows a change of
// receiver without a restart.
func TestPhoneHomeStartsOnConfigChange(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, _ := testCA(t, dir, "hq")
	hqData, boxData := t.TempDir(), t.TempDir()
	hqAddr := freePort(t)
	startHQ(t, hqData, hqAddr, freePort(t), certFile, keyFile)
	cfg := writeConfig(t, "site: Acme\nchecks: []\n")
	box, boxLog := startBox(t, cfg, boxData)
	if out, code := outpost(t, "phonehome", "status", "--data", boxData); code == 0 || !strings.Contains(out, "phone home is off") {
		t.Fatalf("status before phone home is configured: %d %s", code, out)
	}
	out, _ := outpost(t, "bundle", "status", "--data", boxData)
	id := regexp.MustCompile(`box id:\s+(ob-[0-9a-f]+)`).FindStringSubmatch(out)
	key := regexp.MustCompile(`box public key:\s+(ed25519:\S+)`).FindStringSubmatch(out)
	if id == nil || key == nil {
		t.Fatalf("bundle status:\n%s", out)
	}
	if out, code := outpost(t, "hq", "register", "--box", id[1], "--key", key[1], "--site", "Acme", "--data", hqData); code != 0 {
		t.Fatalf("register: %s", out)
	}
	reconfigure := func(url string) {
		t.Helper()
		if err := os.WriteFile(cfg, fmt.Appendf(nil, "site: Acme\nphonehome: {url: '%s', interval: 300ms, ca_file: '%s', backoff_max: 1s}\nchecks: []\n", url, caFile), 0o644); err != nil {
			t.Fatal(err)
		}
		box.Process.Signal(syscall.SIGHUP)
	}
	// First at a receiver that is not there, then at hq.
	reconfigure("https://" + freePort(t) + "/v1/summaries")
	waitFor(t, "phonehome status to show the unreachable receiver", patience, func() string {
		if st := phoneStatusOf(t, boxData); !strings.Contains(st.LastError, "connection refused") {
			return fmt.Sprintf("status never showed the unreachable receiver: %+v\n%s", st, boxLog.String())
		}
		return ""
	})
	reconfigure("https://" + hqAddr + "/v1/summaries")
	waitFor(t, "the box to move to hq and drain", patience, func() string {
		if st := phoneStatusOf(t, boxData); st.LastAck < 2 || st.Depth != 0 {
			return fmt.Sprintf("box did not move to hq and drain: %+v\n%s", st, boxLog.String())
		}
		return ""
	})
	out, code := outpost(t, "hq", "list", "--data", hqData)
	if code != 0 || !strings.Contains(out, id[1]) {
		t.Fatalf("hq list: %s", out)
	}
}

// TestPhoneHomeStatusReadsRight: `outpost phonehome status` of a box
// that has not reached its receiver yet says so ("none yet", not "never
// (summary 0)"), and names the next attempt; once the receiver is up and
// the queue drained, it says the failures are over and that nothing is
// tried until a summary is queued (before: "next attempt never").
func TestPhoneHomeStatusReadsRight(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, _ := testCA(t, dir, "hq")
	hqData, boxData := t.TempDir(), t.TempDir()
	hqAddr := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf("site: Acme\nphonehome: {url: 'https://%s/v1/summaries', interval: 1h, ca_file: '%s', backoff_max: 1s}\nchecks: []\n", hqAddr, caFile))
	_, boxLog := startBox(t, cfg, boxData)
	var out string
	waitFor(t, "status to show the first failure", patience, func() string {
		out, _ = outpost(t, "phonehome", "status", "--data", boxData)
		if !strings.Contains(out, "last error:") {
			return out + "\nbox log:\n" + boxLog.String()
		}
		return ""
	})
	if !strings.Contains(out, "last success: none yet") || strings.Contains(out, "summary 0") || strings.Contains(out, "never") ||
		!regexp.MustCompile(`(?m)^failures:\s+\d+ in a row, next attempt: (now|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)$`).MatchString(out) {
		t.Fatalf("status before the first success:\n%s", out)
	}
	startHQ(t, hqData, hqAddr, freePort(t), certFile, keyFile)
	id, key := boxIdentity(t, boxData)
	registerBox(t, hqData, id, key)
	waitDrained(t, boxData, 1, boxLog)
	out, _ = outpost(t, "phonehome", "status", "--data", boxData)
	if !regexp.MustCompile(`(?m)^last success: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(summary 1\)$`).MatchString(out) ||
		!strings.Contains(out, "failures:     none since (a later attempt went through), next attempt: when a summary is queued") || strings.Contains(out, "never") {
		t.Fatalf("status after the queue drained:\n%s", out)
	}
}
