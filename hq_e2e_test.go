//go:build linux

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"outpost/appliance/hq"
)

// boxIdentity is the box id and public key `bundle status` shows.
func boxIdentity(t *testing.T, data string) (id, key string) {
	t.Helper()
	out, _ := outpost(t, "bundle", "status", "--data", data)
	m := regexp.MustCompile(`box id:\s+(ob-[0-9a-f]+)`).FindStringSubmatch(out)
	k := regexp.MustCompile(`box public key:\s+(ed25519:\S+)`).FindStringSubmatch(out)
	if m == nil || k == nil {
		t.Fatalf("bundle status:\n%s", out)
	}
	return m[1], k[1]
}

func registerBox(t *testing.T, hqData, id, key string) {
	t.Helper()
	if out, code := outpost(t, "hq", "register", "--box", id, "--key", key, "--site", "Acme", "--data", hqData); code != 0 {
		t.Fatalf("hq register: %s", out)
	}
}

// waitDrained waits until the box's outbox is empty and its newest
// summary acknowledged, at least summary atLeast.
func waitDrained(t *testing.T, data string, atLeast uint64, log *logTail) phoneStatus {
	t.Helper()
	var st phoneStatus
	waitFor(t, fmt.Sprintf("the outbox to drain past summary %d", atLeast), patience, func() string {
		st = phoneStatusOf(t, data)
		if st.Depth != 0 || st.LastAck < atLeast || st.LastAck != st.NextSeq-1 {
			return fmt.Sprintf("outbox not drained: %+v\nbox log:\n%s", st, log.String())
		}
		return ""
	})
	return st
}

// TestHQCommandSurvivesLostReply: `hq send` queues a bundle; hq's first
// reply carrying it is cut off on the way back after hq stored the
// summary; the box sends that summary again, hq answers "duplicate" with
// the bundle still in it, and the box applies it. hq shows the command
// pending until a summary from the box confirms it, then done. Before
// the fix hq handed the bundle to the first reply only and forgot it:
// the box never got it and hq showed nothing pending.
func TestHQCommandSurvivesLostReply(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, good := testCA(t, dir, "hq")
	hqData, boxData := t.TempDir(), t.TempDir()
	hqAddr := freePort(t)
	hqCmd := startHQ(t, hqData, hqAddr, freePort(t), certFile, keyFile)
	proxy := newFaultProxy(t, hqAddr, good, good)
	keys := mspKeys(t)
	if out, code := outpost(t, "bundle", "trust", filepath.Join(keys, "msp.pub"), "--data", boxData); code != 0 {
		t.Fatalf("bundle trust: %s", out)
	}
	phone := fmt.Sprintf("phonehome: {url: 'https://%s/v1/summaries', interval: 300ms, ca_file: '%s', backoff_max: 1s}\n", proxy.addr, caFile)
	cfg := writeConfig(t, "site: Acme\n"+phone+"checks: []\n")
	box, boxLog := startBox(t, cfg, boxData)
	id, key := boxIdentity(t, boxData)
	registerBox(t, hqData, id, key)
	waitDrained(t, boxData, 1, boxLog)

	site := filepath.Join(dir, "acme.yaml")
	os.WriteFile(site, []byte("site: Acme\n"+phone+"checks:\n  - {id: from-hq, kind: tcp, target: 127.0.0.1:1, interval: 1s}\n"), 0o644)
	bundleFile := filepath.Join(dir, "acme.bundle")
	makeBundle(t, keys, site, bundleFile, 5)
	proxy.mode.Store("dropbundle")
	if out, code := outpost(t, "hq", "send", "--box", id, "--bundle", bundleFile, "--data", hqData); code != 0 {
		t.Fatalf("hq send: %s", out)
	}
	waitFor(t, "the box to apply the bundle whose first reply was lost", patience, func() string {
		if out, _ := outpost(t, "bundle", "status", "--data", boxData); !strings.Contains(out, "applied bundle: version 5") {
			return fmt.Sprintf("bundle not applied (%d replies cut off):\n%s\nbox log:\n%s", proxy.dropped.Load(), out, boxLog.String())
		}
		return ""
	})
	if proxy.dropped.Load() != 1 || phoneStatusOf(t, boxData).Duplicates < 1 {
		t.Fatalf("the reply carrying the bundle was not lost on the way (%d cut off, status %+v)", proxy.dropped.Load(), phoneStatusOf(t, boxData))
	}
	waitFor(t, "hq to show the command confirmed", patience, func() string {
		out, _ := outpost(t, "hq", "list", "--box", id, "--data", hqData)
		if !regexp.MustCompile(`(?m)^1\s+bundle v5 \(site Acme\)\s.*\sdone \(summary \d+, .*bundle v5 \(site "Acme"\) applied`).MatchString(out) {
			return "hq list --box:\n" + out
		}
		return ""
	})
	out, _ := outpost(t, "hq", "list", "--data", hqData)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if head := strings.Fields(lines[0]); len(lines) != 2 || head[len(head)-1] != "PENDING" || !strings.HasPrefix(lines[1], id) || !strings.HasSuffix(lines[1], " 0") {
		t.Fatalf("hq list (no command pending):\n%s", out)
	}
	if out, _ := outpost(t, "status", "--data", boxData); !strings.Contains(out, "from-hq") {
		t.Fatalf("the bundle's config is not in force:\n%s", out)
	}
	// The summaries that confirmed it match the documented schema.
	kill(box)
	hqCmd.Process.Signal(syscall.SIGTERM)
	hqCmd.Wait()
	confirmed := 0
	for _, doc := range validateStored(t, hqData, id) {
		if cmds, ok := doc["commands"].([]any); ok && len(cmds) > 0 {
			confirmed++
		}
	}
	if confirmed == 0 {
		t.Fatal("no stored summary lists the command's result")
	}
}

// copyTree copies a data directory's regular files and directories with
// their modes (not its control socket): a backup.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		target := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm())
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRestoredBoxRenumbersPastHQ: a box restored from a backup of its
// data directory numbers its summaries again from where the backup left
// off; hq holds other summaries under those numbers and refuses them
// (409, naming the newest it holds); the box numbers its queue on past
// that and is heard again. hq keeps what it had, every number once, and
// counts the conflict. Before the fix the box was refused forever.
func TestRestoredBoxRenumbersPastHQ(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, _ := testCA(t, dir, "hq")
	hqData, boxData, backup := t.TempDir(), t.TempDir(), t.TempDir()
	hqAddr := freePort(t)
	hqCmd := startHQ(t, hqData, hqAddr, freePort(t), certFile, keyFile)
	cfg := writeConfig(t, fmt.Sprintf("site: Acme\nphonehome: {url: 'https://%s/v1/summaries', interval: 300ms, ca_file: '%s', backoff_max: 1s}\nchecks: []\n", hqAddr, caFile))
	box, boxLog := startBox(t, cfg, boxData)
	id, key := boxIdentity(t, boxData)
	registerBox(t, hqData, id, key)
	backedUp := waitDrained(t, boxData, 2, boxLog)
	box.Process.Signal(syscall.SIGTERM)
	box.Wait()
	copyTree(t, boxData, backup)

	// The box goes on for a while after the backup.
	box, boxLog = startBox(t, cfg, boxData)
	before := waitDrained(t, boxData, backedUp.LastAck+4, boxLog)
	box.Process.Signal(syscall.SIGTERM)
	box.Wait()
	// The card dies; the box is restored from the backup.
	os.RemoveAll(boxData)
	copyTree(t, backup, boxData)
	box, boxLog = startBox(t, cfg, boxData)
	after := waitDrained(t, boxData, before.LastAck+1, boxLog)
	var past uint64
	if m := regexp.MustCompile(`up to seq (\d+)`).FindStringSubmatch(after.LastRenumber); m != nil {
		fmt.Sscan(m[1], &past)
	}
	if after.Renumbered < 1 || past < before.LastAck {
		t.Fatalf("status after the restore (hq held up to %d before it): %+v", before.LastAck, after)
	}
	if out, _ := outpost(t, "phonehome", "status", "--data", boxData); !strings.Contains(out, "renumbered:") {
		t.Fatalf("phonehome status:\n%s", out)
	}
	kill(box)
	hqCmd.Process.Signal(syscall.SIGTERM)
	hqCmd.Wait()
	srv, err := hq.Open(filepath.Join(hqData, "hq.db"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	seqs, _ := srv.Seqs(id)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("hq's sequence has a gap or a repeat at %d: %v", i, seqs)
		}
	}
	b, _, _ := srv.Box(id)
	if b.Conflicts < 1 || b.LastSeq < before.LastAck+1 {
		t.Fatalf("hq's record: %d conflicts, last seq %d (before the restore %d)", b.Conflicts, b.LastSeq, before.LastAck)
	}
}

// selfSignedHQ is an MSP's own hq certificate, made without a CA (as
// `openssl req -x509` makes one), for 127.0.0.1, with its PEM and the
// pin of its key.
func selfSignedHQ(t *testing.T, dir string) (certFile, keyFile, certPEM, pin string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "hq.msp.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "hq.pem"), filepath.Join(dir, "hq-key.pem")
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	os.WriteFile(certFile, []byte(certPEM), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, certPEM, base64.StdEncoding.EncodeToString(sum[:])
}

// TestStickProvisionedBoxReachesSelfSignedHQ: the MSP's own hq with a
// self-signed certificate is reached by a box provisioned by a stick
// whose bundle carries hq's certificate (phonehome.ca_pem), nothing
// copied to the box by hand; a bundle pinning another key
// (pin_sha256) makes the box refuse hq; one pinning hq's key, as
// `outpost hq run` logs it, reaches it with no certificate at all; a
// malformed pin is refused at the office by `bundle make`, with its line.
func TestStickProvisionedBoxReachesSelfSignedHQ(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, certPEM, pin := selfSignedHQ(t, dir)
	hqData, boxData := t.TempDir(), t.TempDir()
	hqAddr := freePort(t)
	_, hqLog := startHQLog(t, hqData, hqAddr, freePort(t), certFile, keyFile)
	if !strings.Contains(hqLog.String(), "pin_sha256=\""+pin+"\"") {
		t.Fatalf("hq's log does not name its key's pin %s:\n%s", pin, hqLog.String())
	}
	keys := mspKeys(t)
	if out, code := outpost(t, "bundle", "trust", filepath.Join(keys, "msp.pub"), "--data", boxData); code != 0 {
		t.Fatalf("bundle trust: %s", out)
	}
	sticks := t.TempDir()
	watch := "provisioning: {mount_roots: ['" + sticks + "'], block_devices: false, interval: 500ms}\n"
	box, boxLog := startBox(t, writeConfig(t, "site: Factory\n"+watch+"checks: []\n"), boxData)
	defer kill(box)
	id, key := boxIdentity(t, boxData)
	registerBox(t, hqData, id, key)

	phone := fmt.Sprintf("phonehome:\n  url: https://%s/v1/summaries\n  interval: 300ms\n  backoff_max: 1s\n", hqAddr)
	site := filepath.Join(dir, "acme.yaml")
	write := func(trust string) {
		t.Helper()
		if err := os.WriteFile(site, []byte("site: Acme\n"+watch+phone+trust+"checks: []\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("  ca_pem: |\n    " + strings.ReplaceAll(strings.TrimSpace(certPEM), "\n", "\n    ") + "\n")
	stick := filepath.Join(sticks, "OUTPOST")
	os.MkdirAll(stick, 0o755)
	makeBundle(t, keys, site, stick, 1)
	if rc := stickReceipt(t, stick, 1, boxLog); !strings.Contains(rc, `"result": "applied"`) {
		t.Fatalf("receipt:\n%s", rc)
	}
	st := waitDrained(t, boxData, 1, boxLog)

	// A pin of another key: refused, whatever the certificate says.
	_, _, _, otherPin := selfSignedHQ(t, t.TempDir())
	write("  pin_sha256: [" + otherPin + "]\n")
	b2 := filepath.Join(dir, "v2.bundle")
	makeBundle(t, keys, site, b2, 2)
	if out, code := outpost(t, "bundle", "apply", b2, "--data", boxData); code != 0 {
		t.Fatalf("bundle apply v2: %s", out)
	}
	waitFor(t, "the box to refuse hq's key", patience, func() string {
		if s := phoneStatusOf(t, boxData); !strings.Contains(s.LastError, "is none of those phonehome.pin_sha256 pins") {
			return fmt.Sprintf("status: %+v\nbox log:\n%s", s, boxLog.String())
		}
		return ""
	})
	refused := phoneStatusOf(t, boxData)
	if refused.LastAck > st.NextSeq {
		t.Fatalf("summaries delivered to a receiver whose key is not pinned: %+v", refused)
	}

	// hq's own pin, no certificate: reached.
	write("  pin_sha256: [" + pin + "]\n")
	b3 := filepath.Join(dir, "v3.bundle")
	makeBundle(t, keys, site, b3, 3)
	if out, code := outpost(t, "bundle", "apply", b3, "--data", boxData); code != 0 {
		t.Fatalf("bundle apply v3: %s", out)
	}
	waitDrained(t, boxData, refused.NextSeq, boxLog)

	// A malformed pin never leaves the office.
	write("  pin_sha256:\n    - sha256//" + pin + "\n")
	out, code := outpost(t, "bundle", "make", "--key", filepath.Join(keys, "msp.key"), "--site", site, "--out", filepath.Join(dir, "v4.bundle"), "--version", "4")
	if code != 1 || !strings.Contains(out, site+":8: phonehome.pin_sha256[0]: \"sha256//") {
		t.Fatalf("bundle make with a malformed pin: %d\n%s", code, out)
	}
}
