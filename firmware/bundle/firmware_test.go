package bundle_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"outpost/firmware/bundle"
)

func firmwareManifest() bundle.FirmwareManifest {
	return bundle.FirmwareManifest{Version: "v1.4.0", MinVersion: "1.2.0", OS: "linux", Arch: "arm64", Created: t0, Expires: t0.Add(time.Hour)}
}

func readAll(t *testing.T, data []byte) (*bundle.Firmware, []byte, error) {
	t.Helper()
	f, rest, err := bundle.ReadFirmware(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	var out bytes.Buffer
	err = f.Copy(&out, rest)
	return f, out.Bytes(), err
}

func TestFirmwareMakeAndRead(t *testing.T) {
	k := key(t)
	bin := bytes.Repeat([]byte("outpost binary "), 10000)
	data, err := bundle.MakeFirmware(k, firmwareManifest(), bin)
	if err != nil {
		t.Fatal(err)
	}
	f, got, err := readAll(t, data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	if !bytes.Equal(got, bin) || f.SHA256 != hex.EncodeToString(sum[:]) || f.Size != int64(len(bin)) || !f.Key.Equal(k.Public()) || f.Version != "v1.4.0" {
		t.Fatalf("read back %+v", f.FirmwareManifest)
	}
}

func TestFirmwareRefusesDamage(t *testing.T) {
	k := key(t)
	bin := bytes.Repeat([]byte{0x7f, 'E', 'L', 'F'}, 4096)
	data, err := bundle.MakeFirmware(k, firmwareManifest(), bin)
	if err != nil {
		t.Fatal(err)
	}
	head := bytes.IndexByte(data, '\n')
	flip := func(i int) []byte { d := bytes.Clone(data); d[i] ^= 1; return d }
	prov, err := bundle.Make(k, manifest())
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":              {nil, "empty"},
		"truncated binary":   {data[:len(data)-1], "truncated: the binary has 16383 of its 16384 bytes"},
		"truncated envelope": {data[:head-3], "the envelope line does not end"},
		"trailing bytes":     {append(bytes.Clone(data), 'x'), "bytes after its 16384-byte binary"},
		"tampered binary":    {flip(len(data) - 10), "the binary was changed after signing"},
		"tampered manifest":  {flip(60), ""},
		"provisioning":       {prov, "this is a provisioning bundle"},
		"garbage":            {[]byte("MZ\x90\x00 not json\n"), "not a firmware bundle"},
		"no newline at all":  {bytes.Repeat([]byte("a"), bundle.MaxFirmwareHeader+10), "no envelope in its first"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := readAll(t, c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestFirmwareManifestChecks(t *testing.T) {
	k := key(t)
	for name, c := range map[string]struct {
		change func(*bundle.FirmwareManifest)
		want   string
	}{
		"dev version":       {func(m *bundle.FirmwareManifest) { m.Version = "dev" }, "not a release version"},
		"min above version": {func(m *bundle.FirmwareManifest) { m.MinVersion = "v2.0.0" }, "above its version"},
		"no arch":           {func(m *bundle.FirmwareManifest) { m.Arch = "" }, "not Go platform names"},
		"path as os":        {func(m *bundle.FirmwareManifest) { m.OS = "../etc" }, "not Go platform names"},
		"expires first":     {func(m *bundle.FirmwareManifest) { m.Expires = m.Created }, "before it was created"},
	} {
		t.Run(name, func(t *testing.T) {
			m := firmwareManifest()
			c.change(&m)
			if _, err := bundle.MakeFirmware(k, m, []byte("x")); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.4.0", "v1.4.0", 0}, {"v1.10.0", "v1.9.9", 1}, {"v1.4.0-rc1", "v1.4.0", -1}, {"v2.0.0", "v10.0.0", -1}, {"v1.4.0-rc2", "v1.4.0-rc1", 1},
	} {
		if got, err := bundle.CompareVersions(c.a, c.b); err != nil || got != c.want {
			t.Errorf("%s vs %s: %d %v, want %d", c.a, c.b, got, err, c.want)
		}
	}
	if _, err := bundle.CompareVersions("dev", "v1.0.0"); err == nil {
		t.Error("dev compared")
	}
}

func FuzzFirmwareRead(f *testing.F) {
	_, k, _ := ed25519.GenerateKey(nil)
	data, _ := bundle.MakeFirmware(k, firmwareManifest(), []byte("binary"))
	f.Add(data)
	f.Add([]byte("{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fw, rest, err := bundle.ReadFirmware(bytes.NewReader(data))
		if err != nil {
			return
		}
		if err := fw.Copy(io.Discard, rest); err == nil && fw.Size > int64(len(data)) {
			t.Fatalf("copied a %d-byte binary out of %d bytes", fw.Size, len(data))
		}
	})
}
