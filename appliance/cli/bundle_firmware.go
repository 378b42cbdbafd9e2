package cli

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	phwire "outpost/appliance/phonehome/wire"
	"outpost/firmware/bundle"
	"outpost/firmware/usb"
)

// bundleFirmware makes a signed firmware update (`outpost bundle
// firmware`), at the MSP office.
func bundleFirmware(env *Env, args []string) error {
	fs := NewFlags(env, "bundle firmware", "bundle firmware --key msp.key --binary FILE --version 1.4.0 [--min-version V] [--expires 720h] --out DIR|FILE")
	keyPath := fs.String("key", "", "the MSP private key (from bundle keygen)")
	binPath := fs.String("binary", "", "the outpost binary for one OS/arch")
	version := fs.String("version", "", "the binary's version, as its `outpost version` prints it (the box checks)")
	minVersion := fs.String("min-version", "", "the oldest running version that may update to it")
	expires := fs.Duration("expires", 30*24*time.Hour, "how long the update may be applied")
	goos := fs.String("os", "", "the binary's GOOS (default: read from the binary)")
	goarch := fs.String("arch", "", "the binary's GOARCH (default: read from the binary)")
	out := fs.String("out", "", "where to write: a directory (the stick's root) gets "+bundle.FirmwareFileName)
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *keyPath == "" || *binPath == "" || *version == "" || *out == "" {
		return Usagef("bundle firmware needs --key, --binary, --version and --out")
	}
	key, err := readKeyFile(*keyPath)
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(*binPath)
	if err != nil {
		return err
	}
	dos, darch, err := binaryPlatform(*binPath)
	if err != nil {
		return err
	}
	if *goos == "" {
		*goos = dos
	}
	if *goarch == "" {
		*goarch = darch
	}
	if *goos != dos || *goarch != darch {
		return fmt.Errorf("%s is a %s/%s binary, not %s/%s", *binPath, dos, darch, *goos, *goarch)
	}
	now := time.Now().UTC()
	m := bundle.FirmwareManifest{Version: *version, MinVersion: *minVersion, OS: *goos, Arch: *goarch, Created: now, Expires: now.Add(*expires)}
	data, err := bundle.MakeFirmware(key, m, bin)
	if err != nil {
		return err
	}
	dest := *out
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		dest = filepath.Join(dest, bundle.FirmwareFileName)
	}
	if err := usb.WriteFileSynced(dest, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote %s: outpost %s for %s/%s, %d bytes, expires %s\n", dest, m.Version, m.OS, m.Arch, len(bin), m.Expires.Format(time.RFC3339))
	return nil
}

// binaryPlatform reads a binary's GOOS and GOARCH from its header.
func binaryPlatform(path string) (goos, goarch string, err error) {
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		arch := map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64", elf.EM_ARM: "arm", elf.EM_386: "386", elf.EM_RISCV: "riscv64"}[f.Machine]
		if arch == "" {
			return "", "", fmt.Errorf("%s: ELF machine %s is not one outpost is built for", path, f.Machine)
		}
		return "linux", arch, nil
	}
	if f, err := pe.Open(path); err == nil {
		defer f.Close()
		arch := map[uint16]string{pe.IMAGE_FILE_MACHINE_AMD64: "amd64", pe.IMAGE_FILE_MACHINE_ARM64: "arm64", pe.IMAGE_FILE_MACHINE_I386: "386"}[f.Machine]
		if arch == "" {
			return "", "", fmt.Errorf("%s: PE machine %#x is not one outpost is built for", path, f.Machine)
		}
		return "windows", arch, nil
	}
	if f, err := macho.Open(path); err == nil {
		defer f.Close()
		arch := map[macho.Cpu]string{macho.CpuAmd64: "amd64", macho.CpuArm64: "arm64"}[f.Cpu]
		if arch == "" {
			return "", "", fmt.Errorf("%s: Mach-O CPU %s is not one outpost is built for", path, f.Cpu)
		}
		return "darwin", arch, nil
	}
	return "", "", fmt.Errorf("%s is not an executable (ELF, PE or Mach-O)", path)
}

// bundleNotice signs a phone-home firmware notice for a firmware bundle
// published at a URL: hq sends it to boxes (hq send --firmware), which
// download the bundle from the URL, check its SHA-256 and apply it.
func bundleNotice(env *Env, args []string) error {
	fs := NewFlags(env, "bundle notice", "bundle notice --key msp.key --bundle outpost-firmware.bundle --url URL [--expires 720h] --out notice.json")
	keyPath := fs.String("key", "", "the MSP private key that signed the bundle")
	bundlePath := fs.String("bundle", "", "the firmware bundle (from bundle firmware), as published at --url")
	where := fs.String("url", "", "where boxes download the bundle (https://…, or http:// on a trusted network: the signed hash protects it)")
	out := fs.String("out", "", "the notice file to write (JSON)")
	expires := fs.Duration("expires", 30*24*time.Hour, "how long boxes take the notice (signed; a box also refuses a notice older than the newest it took)")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *keyPath == "" || *bundlePath == "" || *where == "" || *out == "" {
		return Usagef("bundle notice needs --key, --bundle, --url and --out")
	}
	if *expires <= 0 {
		return Usagef("--expires %s is not a positive duration", *expires)
	}
	u, err := url.Parse(*where)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Usagef("--url %q is not an http(s) URL", *where)
	}
	key, err := readKeyFile(*keyPath)
	if err != nil {
		return err
	}
	f, err := os.Open(*bundlePath)
	if err != nil {
		return err
	}
	defer f.Close()
	fw, _, err := bundle.ReadFirmware(f)
	if err != nil {
		return fmt.Errorf("%s: %w", *bundlePath, err)
	}
	if !fw.Key.Equal(key.Public()) {
		return fmt.Errorf("%s is signed by another key than %s: boxes would refuse it", *bundlePath, *keyPath)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	n := phwire.FirmwareNotice{Version: fw.Version, URL: u.String(), SHA256: hex.EncodeToString(h.Sum(nil)), Created: now, Expires: now.Add(*expires)}
	n.Signature = ed25519.Sign(key, n.NoticeBytes())
	data, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	if err := usb.WriteFileSynced(*out, append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote %s: outpost %s at %s, %d bytes, sha256 %s, expires %s\nsend it with: outpost hq send --box ID --firmware %s\n", *out, n.Version, n.URL, size, n.SHA256, n.Expires.Format(time.RFC3339), *out)
	return nil
}

// readNotice reads a notice file from bundle notice.
func readNotice(p string) (*phwire.FirmwareNotice, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var n phwire.FirmwareNotice
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return nil, fmt.Errorf("%s is not a firmware notice (from outpost bundle notice): %w", p, err)
	}
	if n.Version == "" || n.URL == "" || len(n.SHA256) != 64 || n.Created.IsZero() || n.Expires.IsZero() || len(n.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%s is not a whole firmware notice (version, url, sha256, created, expires and signature; make it with outpost bundle notice)", p)
	}
	return &n, nil
}
