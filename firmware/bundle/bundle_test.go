package bundle_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"outpost/firmware/bundle"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func manifest() bundle.Manifest {
	return bundle.Manifest{Version: 3, Created: t0, Expires: t0.Add(time.Hour), Target: bundle.AnyBox, Site: "Acme Dental", Config: "site: Acme Dental\n"}
}

func key(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// resign builds an envelope around a manifest given as raw JSON, signed
// properly, so Parse's checks after the signature are what is tested.
func resign(t *testing.T, k ed25519.PrivateKey, manifestJSON string) []byte {
	t.Helper()
	sig := ed25519.Sign(k, append([]byte(bundle.Format+"\x00"), manifestJSON...))
	out, err := json.Marshal(map[string]string{"format": bundle.Format, "manifest": base64.StdEncoding.EncodeToString([]byte(manifestJSON)),
		"signature": base64.StdEncoding.EncodeToString(sig)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMakeAndParse(t *testing.T) {
	k := key(t)
	data, err := bundle.Make(k, manifest())
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Key.Equal(k.Public()) || b.Version != 3 || b.Site != "Acme Dental" || !b.Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("parsed %+v", b.Manifest)
	}
	cfg, err := b.SiteConfig(nil)
	if err != nil || string(cfg) != "site: Acme Dental\n" {
		t.Fatalf("config %q %v", cfg, err)
	}
}

// TestParseRefuses: every damaged or hostile file is refused with a
// reason that says what is wrong.
func TestParseRefuses(t *testing.T) {
	k := key(t)
	good, err := bundle.Make(k, manifest())
	if err != nil {
		t.Fatal(err)
	}
	pub := base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
	m := func(extra string) string {
		return `{"version":3,"created":"2026-11-24T10:00:00Z","expires":"2026-11-24T11:00:00Z","site":"Acme","msp_key":"ed25519:` + pub + `","config":"site: x\n"` + extra + `}`
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", []byte("\n \n"), "bundle is empty"},
		{"truncated", good[:len(good)-20], "truncated or damaged"},
		{"garbage", []byte{0x50, 0x4b, 0x03, 0x04, 0, 0}, "truncated or damaged"},
		{"oversized", append(bytes.Repeat([]byte(" "), bundle.MaxFileSize), good...), "the limit is"},
		{"gzip instead of JSON", []byte{0x1f, 0x8b, 0x08, 0, 0, 0}, "not a bundle"},
		{"other format", bytes.Replace(good, []byte(bundle.Format), []byte("outpost-bundle/9"), 1), `bundle format "outpost-bundle/9"`},
		{"unknown envelope field", bytes.Replace(good, []byte(`"format"`), []byte(`"path": "../../etc/passwd", "format"`), 1), `unknown field "path"`},
		{"manifest not base64", resignRaw(t, `"manifest": "%%%"`), "manifest is not base64"},
		{"short signature", resignRaw(t, `"signature": "AAAA"`), "not a base64 ed25519 signature"},
		{"signed by another key", swapKey(t, good), "does not verify"},
		{"unknown manifest field", resign(t, k, m(`,"target":"any","files":[{"name":"../../etc/cron.d/x"}]`)), `unknown field "files"`},
		{"target traversal", resign(t, k, m(`,"target":"ob-../../../etc"`)), `target "ob-../../../etc" is neither`},
		{"target not hex", resign(t, k, m(`,"target":"ob-0123456789ABCDEZ"`)), "16 hex digits"},
		{"site with control characters", resign(t, k, strings.Replace(m(`,"target":"any"`), `"site":"Acme"`, `"site":"Acme\u001b[2J"`, 1)), "control characters"},
		{"site too long", resign(t, k, strings.Replace(m(`,"target":"any"`), `"site":"Acme"`, `"site":"`+strings.Repeat("a", 201)+`"`, 1)), "over 200 bytes"},
		{"version 0", resign(t, k, strings.Replace(m(`,"target":"any"`), `"version":3`, `"version":0`, 1)), "version must be 1 or more"},
		{"negative version", resign(t, k, strings.Replace(m(`,"target":"any"`), `"version":3`, `"version":-1`, 1)), "bundle manifest"},
		{"expires before created", resign(t, k, strings.Replace(m(`,"target":"any"`), `11:00:00Z`, `09:00:00Z`, 1)), "before it was created"},
		{"no config", resign(t, k, strings.Replace(m(`,"target":"any"`), `,"config":"site: x\n"`, ``, 1)), "exactly one of config"},
		{"one box, config in clear", resign(t, k, m(`,"target":"ob-0123456789abcdef"`)), "encrypted to that box"},
		{"bad msp key", resign(t, k, strings.Replace(m(`,"target":"any"`), "ed25519:", "rsa:", 1)), `does not start with "ed25519:"`},
		{"next key not a key", resign(t, k, m(`,"target":"any","next_msp_key":"ed25519:AAAA"`)), "bundle next_msp_key: public key"},
		{"next key is the signer", resign(t, k, m(`,"target":"any","next_msp_key":"ed25519:`+pub+`"`)), "next_msp_key is the key that signed it"},
		{"resite from itself", resign(t, k, m(`,"target":"any","resite_from":"Acme"`)), "resite_from names its own site"},
		{"resite from with control characters", resign(t, k, m(`,"target":"any","resite_from":"Old\u0007"`)), "resite_from"},
		{"config too big", resign(t, k, strings.Replace(m(`,"target":"any"`), `"site: x\n"`, `"`+strings.Repeat("#", bundle.MaxConfigSize+1)+`"`, 1)), "config is over"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := bundle.Parse(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error containing %q, got %v (%+v)", c.want, err, b)
			}
		})
	}
}

// resignRaw is a good envelope with one field's value replaced.
func resignRaw(t *testing.T, field string) []byte {
	k := key(t)
	good, err := bundle.Make(k, manifest())
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]string
	json.Unmarshal(good, &env)
	name := strings.Trim(strings.SplitN(field, ":", 2)[0], `" `)
	env[name] = strings.Trim(strings.SplitN(field, ":", 2)[1], `" `)
	out, _ := json.Marshal(env)
	return out
}

// swapKey names a different key than the one that signed.
func swapKey(t *testing.T, good []byte) []byte {
	var env map[string]string
	json.Unmarshal(good, &env)
	mb, _ := base64.StdEncoding.DecodeString(env["manifest"])
	var m map[string]any
	json.Unmarshal(mb, &m)
	m["msp_key"] = "ed25519:" + base64.StdEncoding.EncodeToString(key(t).Public().(ed25519.PublicKey))
	mb, _ = json.Marshal(m)
	env["manifest"] = base64.StdEncoding.EncodeToString(mb)
	out, _ := json.Marshal(env)
	return out
}

// TestRotationAndResiteFields: the fields a key rotation and a re-site
// add are signed with the rest and read back.
func TestRotationAndResiteFields(t *testing.T) {
	k, next := key(t), key(t)
	m := manifest()
	m.NextMSPKey, m.ResiteFrom = "ed25519:"+base64.StdEncoding.EncodeToString(next.Public().(ed25519.PublicKey)), "Old Site"
	data, err := bundle.Make(k, m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Parse(data)
	if err != nil || b.NextMSPKey != m.NextMSPKey || b.ResiteFrom != "Old Site" {
		t.Fatalf("parsed %+v %v", b, err)
	}
}

func TestParsePublicKeyArg(t *testing.T) {
	k := key(t)
	text := "ed25519:" + base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
	p := filepath.Join(t.TempDir(), "msp.pub")
	os.WriteFile(p, []byte(text+"\n"), 0o644)
	for _, arg := range []string{text, p} {
		if got, err := bundle.ParsePublicKeyArg(arg); err != nil || !got.Equal(k.Public()) {
			t.Fatalf("%s: %v", arg, err)
		}
	}
	os.WriteFile(p, bytes.Repeat([]byte("x"), bundle.MaxKeyFile+1), 0o644)
	if _, err := bundle.ParsePublicKeyArg(p); err == nil || !strings.Contains(err.Error(), "not a public key file") {
		t.Fatalf("a big file: %v", err)
	}
	if _, err := bundle.ParsePublicKeyArg(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("a missing file was read as a key")
	}
}

func TestMakeRefusesWhatParseWould(t *testing.T) {
	m := manifest()
	m.Target = "ob-zz"
	if _, err := bundle.Make(key(t), m); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Fatalf("make with a bad target: %v", err)
	}
	m = manifest()
	m.Config = strings.Repeat("#", bundle.MaxFileSize)
	if _, err := bundle.Make(key(t), m); err == nil || !strings.Contains(err.Error(), "config is over") {
		t.Fatalf("make with a huge config: %v", err)
	}
}

func TestKeyFiles(t *testing.T) {
	priv, pemData, err := bundle.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	back, err := bundle.ParseKey(pemData)
	if err != nil || !back.Equal(priv) {
		t.Fatalf("key round trip: %v", err)
	}
	if _, err := bundle.ParseKey([]byte("ssh-ed25519 AAAA...")); err == nil || !strings.Contains(err.Error(), "outpost bundle keygen") {
		t.Fatalf("not PEM: %v", err)
	}
	bad := bytes.Replace(pemData, []byte("PRIVATE KEY"), []byte("PUBLIC KEY"), 2)
	if _, err := bundle.ParseKey(bad); err == nil {
		t.Fatal("a PUBLIC KEY block was read as a private key")
	}
}
