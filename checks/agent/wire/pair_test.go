package wire

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func mustIdentity(t *testing.T, name string) []byte {
	t.Helper()
	p, err := NewIdentity(name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadIdentity(p)
	if err != nil {
		t.Fatal(err)
	}
	return c.Certificate[0]
}

type pairRun struct {
	agentCode, boxCode        string
	agentTLS, boxTLS          string
	tamperChallenge, tamperOK bool
}

// run plays one exchange and returns whether the box accepted the
// agent's confirmation and what the agent made of the box's answer.
func (p pairRun) run(t *testing.T) (boxOK bool, agentErr error) {
	t.Helper()
	agentCert, boxCert := mustIdentity(t, "agent"), mustIdentity(t, "box")
	a, start, err := StartPairing(p.agentCode, PairInfo{Hostname: "srv", OS: "linux", Listen: ":8471", Cert: agentCert, PairTLS: p.agentTLS})
	if err != nil {
		t.Fatal(err)
	}
	b, ch, err := AnswerPairing(p.boxCode, start, p.boxTLS, boxCert, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if p.tamperChallenge {
		ch.BoxCert = mustIdentity(t, "other box")
	}
	confirm, err := a.Confirm(ch)
	if err != nil {
		t.Fatal(err)
	}
	boxOK = b.Check(confirm)
	acc, err := b.Accept(PairResponse{Name: "srv1", Site: "acme", Policy: Policy{Services: []string{"nginx"}}})
	if err != nil {
		t.Fatal(err)
	}
	if p.tamperOK {
		acc.Response = bytes.Replace(acc.Response, []byte("nginx"), []byte("sshd!"), 1)
	}
	pr, err := a.Accept(acc)
	if err == nil && (pr.Name != "srv1" || pr.Policy.Services[0] != "nginx" || !bytes.Equal(pr.BoxCert, boxCert)) {
		t.Fatalf("accepted %+v", pr)
	}
	return boxOK, err
}

func TestPairingExchange(t *testing.T) {
	ok := pairRun{agentCode: "123-456-789", boxCode: "123456789", agentTLS: "sha256:aa", boxTLS: "sha256:aa"}
	if boxOK, err := ok.run(t); !boxOK || err != nil {
		t.Fatalf("same code: box %v, agent %v", boxOK, err)
	}
	for name, p := range map[string]pairRun{
		"agent has another code":           {agentCode: "123-456-780", boxCode: "123-456-789", agentTLS: "x", boxTLS: "x"},
		"relay with another certificate":   {agentCode: "123-456-789", boxCode: "123-456-789", agentTLS: "sha256:relay", boxTLS: "sha256:box"},
		"challenge names another box cert": {agentCode: "123-456-789", boxCode: "123-456-789", agentTLS: "x", boxTLS: "x", tamperChallenge: true},
	} {
		t.Run(name, func(t *testing.T) {
			boxOK, err := p.run(t)
			if boxOK || !errors.Is(err, ErrBoxNotProven) {
				t.Fatalf("box accepted %v, agent %v", boxOK, err)
			}
		})
	}
	t.Run("answer altered after the box confirmed it", func(t *testing.T) {
		p := ok
		p.tamperOK = true
		if _, err := p.run(t); !errors.Is(err, ErrBoxNotProven) {
			t.Fatalf("agent accepted an altered answer: %v", err)
		}
	})
}

func TestPairingRefusesBadShares(t *testing.T) {
	agentCert, boxCert := mustIdentity(t, "agent"), mustIdentity(t, "box")
	a, start, err := StartPairing("111-222-333", PairInfo{Cert: agentCert})
	if err != nil {
		t.Fatal(err)
	}
	start.Share = make([]byte, 32) // the neutral element
	if _, _, err := AnswerPairing("111-222-333", start, "", boxCert, "s"); err == nil {
		t.Fatal("box accepted a zero share")
	}
	if _, err := a.Confirm(PairChallenge{Version: Version, Session: "s", Share: make([]byte, 32), BoxCert: boxCert}); err == nil {
		t.Fatal("agent accepted a zero share")
	}
	if _, err := a.Accept(PairAccepted{}); err == nil {
		t.Fatal("agent accepted an answer before the challenge")
	}
}

func TestParseCode(t *testing.T) {
	for in, want := range map[string]string{"123-456-789": "123456789", "123 456 789": "123456789", "123456789": "123456789"} {
		if h, n, err := ParseCode(in); err != nil || n != want || h != "123" {
			t.Errorf("%q: %q %q %v", in, h, n, err)
		}
	}
	for _, bad := range []string{"", "123-456", "123-456-78a", "1234567890", "١٢٣٤٥٦٧٨٩"} {
		if _, _, err := ParseCode(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if FormatCode("123456789") != "123-456-789" {
		t.Fatal(FormatCode("123456789"))
	}
}

func TestRevocationSignedByThePinnedKey(t *testing.T) {
	p, _ := NewIdentity("box for srv1")
	box, _ := LoadIdentity(p)
	other, _ := LoadIdentity(must(NewIdentity("another box")))
	at := time.Date(2031, 5, 1, 12, 0, 0, 0, time.UTC)
	r, err := SignRevocation(box, "srv1", "sha256:agent", at)
	if err != nil {
		t.Fatal(err)
	}
	pinned := Fingerprint(box.Certificate[0])
	if err := r.Verify(pinned, "sha256:agent"); err != nil {
		t.Fatalf("valid revocation: %v", err)
	}
	if err := r.Verify(Fingerprint(other.Certificate[0]), "sha256:agent"); !errors.Is(err, ErrNotThisPairing) {
		t.Fatalf("revocation of an older box key: %v", err)
	}
	if err := r.Verify(pinned, "sha256:another-agent"); !errors.Is(err, ErrNotThisPairing) {
		t.Fatalf("revocation for another agent: %v", err)
	}
	forged, _ := SignRevocation(other, "srv1", "sha256:agent", at)
	forged.BoxCert = box.Certificate[0]
	if err := forged.Verify(pinned, "sha256:agent"); err == nil || errors.Is(err, ErrNotThisPairing) {
		t.Fatalf("revocation signed by another key: %v", err)
	}
	later := r
	later.RevokedAt = at.Add(time.Hour)
	if err := later.Verify(pinned, "sha256:agent"); err == nil {
		t.Fatal("altered revocation accepted")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
