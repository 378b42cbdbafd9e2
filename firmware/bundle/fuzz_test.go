package bundle_test

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"outpost/firmware/bundle"
	"outpost/firmware/identity"
)

// FuzzBundleParse: Parse takes any bytes from a stick and must refuse
// what it cannot read without panicking; what it accepts verifies under
// the key it names and passes the manifest's rules.
func FuzzBundleParse(f *testing.F) {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		f.Fatal(err)
	}
	good, err := bundle.Make(k, manifest())
	if err != nil {
		f.Fatal(err)
	}
	_, next, _ := ed25519.GenerateKey(nil)
	m := manifest()
	m.NextMSPKey, m.ResiteFrom = identity.FormatPublicKey(next.Public().(ed25519.PublicKey)), "Old Site"
	rotating, err := bundle.Make(k, m)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{good, rotating, good[:len(good)/2], []byte("{}"), []byte(`{"format":"outpost-bundle/1","manifest":"e30=","signature":""}`),
		[]byte("\x1f\x8b\x08\x00"), []byte(`{"format":` + strings.Repeat("[", 10000))} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := bundle.Parse(data)
		if err != nil {
			if b != nil {
				t.Fatalf("a refused bundle came back with its contents: %+v", b)
			}
			return
		}
		if err := bundle.CheckTarget(b.Target); err != nil {
			t.Fatalf("accepted a bad target: %v", err)
		}
		if b.MSPKey != identity.FormatPublicKey(b.Key) || b.Version == 0 || !b.Expires.After(b.Created) {
			t.Fatalf("accepted a manifest that breaks its rules: %+v", b.Manifest)
		}
		if (b.Config == "") == (b.ConfigAge == "") {
			t.Fatalf("accepted a bundle without exactly one config: %+v", b.Manifest)
		}
	})
}
