package hq_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"outpost/appliance/phonehome/wire"
)

// BenchmarkHQUnauthenticatedUploads: the real `outpost hq run` process
// (OUTPOST_BIN, or built from this tree) under 1,000 concurrent 8 MiB
// uploads over HTTPS that nobody signed: a third name unknown boxes, a
// third one registered box, a third 50 registered boxes from 50
// loopback addresses. Reported: hq's peak RSS (VmHWM) and its RSS
// before; then a real box's summary must still get through.
func BenchmarkHQUnauthenticatedUploads(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc")
	}
	bin := os.Getenv("OUTPOST_BIN")
	dir := b.TempDir()
	if bin == "" {
		bin = filepath.Join(dir, "outpost")
		if out, err := exec.Command("go", "build", "-o", bin, "outpost").CombinedOutput(); err != nil {
			b.Fatalf("building outpost: %v\n%s", err, out)
		}
	}
	certFile, keyFile := selfSigned(b, dir)
	data := filepath.Join(dir, "hq")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "hq", "run", "--data", data, "--listen", addr, "--ui-listen", "127.0.0.1:0", "--cert", certFile, "--key", keyFile)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if exec.Command(bin, "hq", "list", "--data", data).Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("hq did not start:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	register := func() (string, ed25519.PrivateKey) {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		id := wire.BoxID(pub)
		if out, err := exec.Command(bin, "hq", "register", "--box", id, "--key", wire.FormatPublicKey(pub), "--site", "Bench", "--data", data).CombinedOutput(); err != nil {
			b.Fatalf("register: %v %s", err, out)
		}
		return id, priv
	}
	realID, realKey := register()
	var ids []string
	for range 50 {
		id, _ := register()
		ids = append(ids, id)
	}
	url := "https://" + addr + "/v1/summaries"
	big := make([]byte, 8<<20)
	rss := func(field string) int64 {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		m := regexp.MustCompile(field + `:\s+(\d+) kB`).FindSubmatch(st)
		if m == nil {
			return 0
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return n << 10
	}
	tlsConf := &tls.Config{InsecureSkipVerify: true}
	client := func(src int) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, byte(src%50+1))}}
		return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DialContext: d.DialContext, TLSClientConfig: tlsConf, DisableKeepAlives: true, ForceAttemptHTTP2: false}}
	}
	shared := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true, MaxConnsPerHost: 0}}
	before := rss("VmRSS")
	var answers sync.Map
	count := func(k string) {
		v, _ := answers.LoadOrStore(k, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		for i := range 1000 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, id := shared, realID
				switch i % 3 {
				case 0:
					_, id = stranger(b)
				case 2:
					c, id = client(i), ids[i%len(ids)]
				}
				code, err := upload(c, strings.TrimSuffix(url, "/v1/summaries"), id, big)
				if err != nil {
					count("closed")
				} else {
					count(strconv.Itoa(code))
				}
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	flood := time.Since(start)
	peak := rss("VmHWM")
	// The real box, right after.
	body, _ := wire.Encode(wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: realID, Site: "Bench"}, Seq: 1, Time: time.Now(), Reason: "interval", Interval: 300})
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	at := time.Now().UTC().Format(time.RFC3339Nano)
	wire.Sign(req.Header, realID, 1, at, body, func(m []byte) []byte { return ed25519.Sign(realKey, m) })
	t0 := time.Now()
	resp, err := shared.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("the real box after the flood: %s", resp.Status)
	}
	var summary []string
	answers.Range(func(k, v any) bool {
		summary = append(summary, fmt.Sprintf("%s: %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	b.Logf("hq RSS %d MiB before, peak %d MiB; %d uploads in %s answered {%s}; the real box's summary then took %s",
		before>>20, peak>>20, 1000*b.N, flood.Round(time.Millisecond), strings.Join(summary, ", "), time.Since(t0).Round(time.Millisecond))
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(before)/(1<<20), "idle-RSS-MiB")
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(b *testing.B, dir string) (certFile, keyFile string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hq"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "hq.pem"), filepath.Join(dir, "hq-key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}
