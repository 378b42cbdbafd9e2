package wire_test

import (
	"crypto/ed25519"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"outpost/appliance/phonehome/wire"
)

// TestSignVerify: a request signed by the box verifies with its key and
// with no other, and not once the body, sequence or time is changed.
func TestSignVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	body := []byte("gzip'd summary")
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC).Format(time.RFC3339Nano)
	h := http.Header{}
	wire.Sign(h, "ob-0123456789abcdef", 57, at, body, func(m []byte) []byte { return ed25519.Sign(priv, m) })
	if h.Get(wire.HeaderBox) != "ob-0123456789abcdef" || h.Get(wire.HeaderSeq) != "57" || h.Get(wire.HeaderTime) != at ||
		h.Get(wire.HeaderIdem) != "ob-0123456789abcdef-57" {
		t.Fatalf("headers: %v", h)
	}
	verify := func(key ed25519.PublicKey, seq uint64, at string, body []byte) error {
		return wire.Verify(key, h.Get(wire.HeaderBox), seq, at, h.Get(wire.HeaderSignature), body)
	}
	seq, _ := strconv.ParseUint(h.Get(wire.HeaderSeq), 10, 64)
	if err := verify(pub, seq, at, body); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"other key":  verify(other, seq, at, body),
		"other seq":  verify(pub, seq+1, at, body),
		"other time": verify(pub, seq, at+"1", body),
		"other body": verify(pub, seq, at, append(body, '!')),
	} {
		if err == nil || !strings.Contains(err.Error(), "does not verify") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := wire.Verify(pub, "ob-0123456789abcdef", 57, at, "not base64!", body); err == nil || !strings.Contains(err.Error(), "not a base64 ed25519 signature") {
		t.Errorf("bad header: %v", err)
	}
}

// TestEncodeDecode: a summary survives the trip; the schema is checked.
func TestEncodeDecode(t *testing.T) {
	s := wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: "ob-1", Site: "Acme"}, Seq: 3, Time: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		Lost: wire.Lost{Total: 2, FirstSeq: 1, LastSeq: 2}}
	body, err := wire.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wire.Decode(body)
	if err != nil || got.Box != s.Box || got.Seq != 3 || !got.Time.Equal(s.Time) || got.Lost != s.Lost {
		t.Fatalf("%+v, %v", got, err)
	}
	s.Schema = "outpost-summary/2"
	body, _ = wire.Encode(s)
	if _, err := wire.Decode(body); err == nil || !strings.Contains(err.Error(), "this receiver reads") {
		t.Fatalf("other schema: %v", err)
	}
}

// TestFirmwareNotice: a notice verifies with the key that signed it only,
// and not once any field is changed.
func TestFirmwareNotice(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	n := wire.FirmwareNotice{Version: "1.5.0", URL: "https://updates.example/outpost-1.5.0", SHA256: "ab", Created: time.Now().Add(-time.Minute), Expires: time.Now().Add(time.Hour)}
	n.Signature = ed25519.Sign(priv, n.NoticeBytes())
	if !n.Verify(pub) || n.Verify(other) || n.Verify(nil) {
		t.Fatal("verified with the wrong key, or not with the right one")
	}
	for name, change := range map[string]func(*wire.FirmwareNotice){
		"version": func(n *wire.FirmwareNotice) { n.Version = "1.6.0" },
		"expiry":  func(n *wire.FirmwareNotice) { n.Expires = n.Expires.Add(time.Hour) },
		"created": func(n *wire.FirmwareNotice) { n.Created = n.Created.Add(time.Hour) },
	} {
		c := n
		change(&c)
		if c.Verify(pub) {
			t.Fatalf("a notice with its %s changed verified", name)
		}
	}
}
