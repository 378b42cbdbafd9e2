package wire_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"outpost/checks/agent/wire"
)

func identity(t *testing.T, name string) tls.Certificate {
	t.Helper()
	p, err := wire.NewIdentity(name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := wire.LoadIdentity(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// handshake runs one mutually authenticated TLS handshake over
// 127.0.0.1 between an agent (server) and a box (client) and returns
// the client's error, then the server's.
func handshake(t *testing.T, server, client *tls.Config) (error, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			serr <- err
			return
		}
		defer c.Close()
		serr <- c.(*tls.Conn).Handshake()
	}()
	c, cerr := tls.Dial("tcp", ln.Addr().String(), client)
	if cerr == nil {
		// TLS 1.3: the server sees the client certificate after the
		// client's handshake returns; a read waits for its verdict.
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		c.Read(make([]byte, 1))
		c.Close()
	}
	return cerr, <-serr
}

// TestIdentityValidWhateverTheClock: pairing identities have fixed dates
// (1970 to 9999), so even a peer that verified them as a CA-less browser
// does, dates included, would accept them with its clock at 1970, today
// or 30 years on, in both directions.
func TestIdentityValidWhateverTheClock(t *testing.T) {
	box, agent := identity(t, "outpost-box Acme"), identity(t, "outpost-agent web01")
	for _, c := range []tls.Certificate{box, agent} {
		if !c.Leaf.NotBefore.Equal(time.Unix(0, 0)) || !c.Leaf.NotAfter.Equal(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)) {
			t.Fatalf("%s valid %v to %v", c.Leaf.Subject.CommonName, c.Leaf.NotBefore, c.Leaf.NotAfter)
		}
	}
	boxPool, agentPool := x509.NewCertPool(), x509.NewCertPool()
	boxPool.AddCert(box.Leaf)
	agentPool.AddCert(agent.Leaf)
	now := time.Now()
	for _, at := range []time.Time{time.Unix(0, 0), now, now.AddDate(30, 0, 0)} {
		clk := func() time.Time { return at }
		server := &tls.Config{Certificates: []tls.Certificate{agent}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: boxPool, Time: clk, MinVersion: tls.VersionTLS13}
		client := &tls.Config{Certificates: []tls.Certificate{box}, RootCAs: agentPool, ServerName: "outpost-agent", Time: clk, MinVersion: tls.VersionTLS13}
		if cerr, serr := handshake(t, server, client); cerr != nil || serr != nil {
			t.Errorf("clock %s: box %v, agent %v", at.UTC().Format(time.RFC3339), cerr, serr)
		}
	}
}

// TestPinnedIgnoresDates: the configurations the box (checks/agent
// client.go: InsecureSkipVerify plus VerifyPinned) and the agent
// (appliance/agent: RequireAnyClientCert, pin checked by the handler)
// and the agent pairing (appliance/agent/pair.go: VerifyPinned) use
// trust the fingerprint only: a certificate expired in 1980 or not valid
// before 2090 is accepted when pinned, and the right dates do not make
// an unpinned one acceptable.
func TestPinnedIgnoresDates(t *testing.T) {
	for _, span := range [][2]time.Time{
		{time.Unix(0, 0).Add(-time.Hour), time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)}, // made at 1970 by the old rule
		{time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2110, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		agent, box := datedCert(t, span[0], span[1]), datedCert(t, span[0], span[1])
		server := &tls.Config{Certificates: []tls.Certificate{agent}, ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS13}
		pinned := wire.Fingerprint(agent.Certificate[0])
		client := &tls.Config{Certificates: []tls.Certificate{box}, InsecureSkipVerify: true, VerifyConnection: wire.VerifyPinned("agent web01", pinned), MinVersion: tls.VersionTLS13}
		cerr, serr := handshake(t, server, client)
		if cerr != nil || serr != nil {
			t.Fatalf("valid %s to %s, pinned: box %v, agent %v", span[0].Format("2006"), span[1].Format("2006"), cerr, serr)
		}
		client.VerifyConnection = wire.VerifyPinned("agent web01", wire.Fingerprint(box.Certificate[0]))
		if cerr, _ := handshake(t, server, client); !errors.Is(cerr, wire.ErrPinMismatch) {
			t.Fatalf("another certificate pinned: %v, want ErrPinMismatch", cerr)
		}
	}
}

func datedCert(t *testing.T, from, to time.Time) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "dated"}, NotBefore: from, NotAfter: to,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, DNSNames: []string{"outpost-agent"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	p := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})...)
	c, err := wire.LoadIdentity(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
