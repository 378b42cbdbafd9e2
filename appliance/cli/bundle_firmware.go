package cli

import (
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
