package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"outpost/appliance"
	"outpost/appliance/config"
	"outpost/firmware/bundle"
	"outpost/firmware/identity"
	"outpost/firmware/provision"
	"outpost/firmware/usb"
)

func init() {
	Register(Command{Name: "bundle", Summary: "provisioning bundles: keygen and make (at the MSP), inspect, trust, apply, status (on the box)", Run: bundleCmd})
	Register(Command{Name: "factory-reset", Summary: "forget the trusted MSP key, bundle version and site, so the box can be given to another MSP key", Run: factoryResetCmd})
}

const bundleUsage = `bundle <subcommand>

At the MSP office:
  bundle keygen  --out DIR                     make the MSP signing key pair (msp.key, msp.pub)
  bundle make    --key msp.key --site site.yaml --out DIR|FILE
                 [--version N] [--expires 720h] [--target BOX-ID --recipient age1... | --receipt RECEIPT.json]
                 [--next-key new-msp.pub] [--resite-from "OLD SITE"]
  bundle firmware --key msp.key --binary FILE --version 1.4.0 [--min-version V] [--expires 720h] --out DIR|FILE
                                               a signed firmware update (docs/firmware.md)
  bundle notice  --key msp.key --bundle FILE --url URL --out notice.json
                                               a signed notice that the update is at URL (hq send --firmware)
On the box, or anywhere:
  bundle inspect FILE [--key msp.pub]          what a bundle holds, and whether it verifies
  bundle trust   msp.pub|ed25519:KEY [--replace] [--data DIR]
                                               the MSP key this box trusts (at the box, as root)
  bundle apply   FILE [--data DIR]             apply it through the running daemon, as a stick would
  bundle status  [--data DIR]                  the box's id and keys, the trusted MSP key, the last bundle`

func bundleCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return Usagef("missing subcommand\n\nUsage: outpost %s", bundleUsage)
	}
	switch args[0] {
	case "keygen":
		return bundleKeygen(env, args[1:])
	case "make":
		return bundleMake(env, args[1:])
	case "firmware":
		return bundleFirmware(env, args[1:]) // bundle_firmware.go
	case "notice":
		return bundleNotice(env, args[1:])
	case "inspect":
		return bundleInspect(env, args[1:])
	case "trust":
		return bundleTrust(ctx, env, args[1:])
	case "apply":
		return bundleApply(ctx, env, args[1:])
	case "status":
		return bundleStatus(ctx, env, args[1:])
	}
	return Usagef("unknown subcommand %q\n\nUsage: outpost %s", args[0], bundleUsage)
}

func bundleKeygen(env *Env, args []string) error {
	fs := NewFlags(env, "bundle keygen", "bundle keygen --out DIR")
	out := fs.String("out", ".", "directory for msp.key (private, mode 0600) and msp.pub; created (mode 0700) if missing")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	created, err := keyDir(*out)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(env.Stdout, "created %s (mode 0700)\n", *out)
	}
	keyPath, pubPath := filepath.Join(*out, "msp.key"), filepath.Join(*out, "msp.pub")
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists; refusing to overwrite an MSP key (every box that trusts it would have to be told another at the box)", p)
		}
	}
	priv, pemBytes, err := bundle.NewKey()
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pemBytes, 0o600); err != nil {
		return err
	}
	pub := identity.FormatPublicKey(priv.Public().(ed25519.PublicKey))
	if err := os.WriteFile(pubPath, []byte(pub+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "MSP signing key: %s (keep it offline; it provisions every box that trusts it)\npublic key: %s (%s): install it with every box (outpost install --msp-key)\n", keyPath, pubPath, pub)
	return nil
}

// keyDir makes sure dir is a directory for the MSP key pair, creating it
// (and missing parents) readable by the owner only; it reports whether it
// created it.
func keyDir(dir string) (bool, error) {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		return false, nil
	case err == nil:
		return false, fmt.Errorf("--out %s is a file, not a directory: give a directory for msp.key and msp.pub", dir)
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("--out %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("creating the key directory: %w", err)
	}
	return true, nil
}

func readKeyFile(p string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	k, err := bundle.ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return k, nil
}

func bundleMake(env *Env, args []string) error {
	fs := NewFlags(env, "bundle make", "bundle make --key msp.key --site site.yaml --out DIR|FILE [flags]")
	keyPath := fs.String("key", "", "the MSP private key (from bundle keygen)")
	site := fs.String("site", "", "the site config to provision")
	out := fs.String("out", "", "where to write: a directory (the stick's root) gets "+bundle.FileName)
	version := fs.Uint64("version", 0, "bundle version (default: now as Unix seconds, so later bundles are newer)")
	expires := fs.Duration("expires", 30*24*time.Hour, "how long the bundle may be applied")
	target := fs.String("target", "", "a box id (ob-...): only that box applies it, secrets encrypted to it")
	recipient := fs.String("recipient", "", "the target box's age recipient (age1..., from its receipt)")
	receipt := fs.String("receipt", "", "a box's receipt file: sets --target and --recipient from it")
	nextKey := fs.String("next-key", "", "rotate the MSP key: boxes that apply this bundle trust this public key (file or ed25519:...) instead of --key's from then on")
	resiteFrom := fs.String("resite-from", "", "an any-box bundle may move a box provisioned for this site to the new one (otherwise such a box refuses it)")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *keyPath == "" || *site == "" || *out == "" {
		return Usagef("bundle make needs --key, --site and --out")
	}
	if *receipt != "" {
		data, err := os.ReadFile(*receipt)
		if err != nil {
			return err
		}
		var rc provision.Receipt
		if err := json.Unmarshal(data, &rc); err != nil || rc.BoxID == "" {
			return fmt.Errorf("%s is not a box receipt: %v", *receipt, err)
		}
		*target, *recipient = rc.BoxID, rc.BoxRecipient
	}
	if (*target == "") != (*recipient == "") {
		return Usagef("--target and --recipient go together (or give --receipt)")
	}
	if *target != "" {
		if err := bundle.CheckTarget(*target); err != nil {
			return err
		}
	}
	key, err := readKeyFile(*keyPath)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(*site)
	if err != nil {
		return err
	}
	// Refuse at the office what the box would refuse on site.
	cfg, err := config.Parse(*site, raw)
	if err != nil {
		return err
	}
	if err := appliance.CheckConfig(cfg); err != nil {
		return fmt.Errorf("%s: %w", *site, err)
	}
	now := time.Now().UTC()
	m := bundle.Manifest{Version: *version, Created: now, Expires: now.Add(*expires), Target: bundle.AnyBox, Site: cfg.Site, Config: string(raw), ResiteFrom: *resiteFrom}
	if *nextKey != "" {
		nk, err := bundle.ParsePublicKeyArg(*nextKey)
		if err != nil {
			return fmt.Errorf("--next-key: %w", err)
		}
		m.NextMSPKey = identity.FormatPublicKey(nk)
	}
	if m.Version == 0 {
		m.Version = uint64(now.Unix())
	}
	if *target != "" {
		m.Target = *target
		if err := m.EncryptConfig(*recipient, raw); err != nil {
			return err
		}
	}
	data, err := bundle.Make(key, m)
	if err != nil {
		return err
	}
	dest := *out
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		dest = filepath.Join(dest, bundle.FileName)
	}
	// 0600: an any-box bundle carries the site's secrets readable (a FAT
	// stick has no modes: keep the stick itself safe).
	if err := usb.WriteFileSynced(dest, data, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote %s: site %q, version %d, target %s, expires %s\n", dest, m.Site, m.Version, m.Target, m.Expires.Format(time.RFC3339))
	if m.Target == bundle.AnyBox {
		fmt.Fprintf(env.Stdout, "the config (and its secrets) is readable to whoever holds the file; once the box's receipt is back, prefer --receipt\n")
	}
	if m.NextMSPKey != "" {
		fmt.Fprintf(env.Stdout, "rotates the MSP key: boxes that apply it trust %s from then on\n", m.NextMSPKey)
	}
	return nil
}

func bundleInspect(env *Env, args []string) error {
	fs := NewFlags(env, "bundle inspect", "bundle inspect FILE [--key msp.pub]")
	pubPath := fs.String("key", "", "check that it is signed with this MSP public key (msp.pub)")
	if err := Parse(fs, reorder(args), true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return Usagef("bundle inspect needs one FILE")
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	b, err := bundle.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	fmt.Fprintf(env.Stdout, "site:      %s\nversion:   %d\ncreated:   %s\nexpires:   %s\ntarget:    %s\nmsp key:   %s (id %s)\nsignature: valid for that key\n",
		b.Site, b.Version, b.Created.Format(time.RFC3339), b.Expires.Format(time.RFC3339), b.Target, b.MSPKey, identity.KeyID(b.Key))
	if b.NextMSPKey != "" {
		fmt.Fprintf(env.Stdout, "next key:  %s (the box trusts it instead after applying)\n", b.NextMSPKey)
	}
	if b.ResiteFrom != "" {
		fmt.Fprintf(env.Stdout, "moves:     a box provisioned for site %q\n", b.ResiteFrom)
	}
	if b.ConfigAge != "" {
		fmt.Fprintln(env.Stdout, "config:    encrypted to the target box")
	} else {
		fmt.Fprintf(env.Stdout, "config:    %d bytes, readable (an any-box bundle: keep the stick safe)\n", len(b.Config))
	}
	if *pubPath != "" {
		pb, err := os.ReadFile(*pubPath)
		if err != nil {
			return err
		}
		want, err := identity.ParsePublicKey(string(pb))
		if err != nil {
			return fmt.Errorf("%s: %w", *pubPath, err)
		}
		if !want.Equal(b.Key) {
			return fmt.Errorf("signed by key %s, not by %s (%s)", identity.KeyID(b.Key), *pubPath, identity.KeyID(want))
		}
		fmt.Fprintf(env.Stdout, "signed by: %s\n", *pubPath)
	}
	return nil
}

func bundleApply(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "bundle apply", "bundle apply FILE [--data DIR]")
	data := DataDirFlag(fs)
	if err := Parse(fs, reorder(args), true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return Usagef("bundle apply needs one FILE")
	}
	b, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	if len(b) > bundle.MaxFileSize {
		return fmt.Errorf("%s is %d bytes; a bundle is at most %d", fs.Arg(0), len(b), bundle.MaxFileSize)
	}
	abs, _ := filepath.Abs(fs.Arg(0))
	var rc provision.Receipt
	if err := Control(ctx, *data, "POST", "/provision/apply", appliance.ApplyRequest{Bundle: b, Source: abs}, &rc); err != nil {
		return err
	}
	out, _ := json.MarshalIndent(rc, "", "  ")
	fmt.Fprintln(env.Stdout, string(out))
	if rc.Result != provision.Applied {
		return fmt.Errorf("bundle refused: %s", strings.Join(rc.Reasons, "; "))
	}
	return nil
}

func bundleStatus(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "bundle status", "bundle status [--data DIR]")
	data := DataDirFlag(fs)
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	var st appliance.ProvisionStatus
	if err := Control(ctx, *data, "GET", "/provision", nil, &st); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "box id:         %s\nbox public key: %s\nbox recipient:  %s\nUI certificate: %s\n", st.BoxID, st.BoxPublicKey, st.BoxRecipient, st.UICertSHA256)
	s := st.State
	if s.PinnedKey == "" {
		fmt.Fprintln(env.Stdout, "MSP key:        none trusted: every stick is refused until the box is told one (outpost bundle trust msp.pub)")
	} else {
		fmt.Fprintf(env.Stdout, "MSP key:        %s, pinned %s\n  trusted by:   %s\n", s.PinnedKey, fmtTime(s.PinnedAt, "(when: not recorded)"), s.PinnedBy)
		if s.FirstUse {
			fmt.Fprintln(env.Stdout, "  WARNING:      pinned by trust on first use: whoever inserted the first stick chose it; check it is your MSP's key, then confirm it with outpost bundle trust")
		}
	}
	if s.Version > 0 {
		fmt.Fprintf(env.Stdout, "applied bundle: version %d (site %s), %s\n", s.Version, s.Site, fmtTime(s.AppliedAt, "when: not recorded"))
	}
	if l := s.Last; l != nil {
		fmt.Fprintf(env.Stdout, "last bundle:    %s, version %d from %s at %s\n", l.Result, l.BundleVersion, dash(l.Source), fmtTime(l.Time, "a time not recorded"))
		for _, r := range l.Reasons {
			fmt.Fprintf(env.Stdout, "                %s\n", r)
		}
	}
	return nil
}

func factoryResetCmd(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "factory-reset", "factory-reset --yes [--data DIR]")
	data := DataDirFlag(fs)
	yes := fs.Bool("yes", false, "confirm: the box forgets its MSP key and refuses every stick until it is told another")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if !*yes {
		return Usagef("factory-reset forgets the MSP key this box trusts (and removes its msp.pub), the bundle version and the site: every stick is refused until the box is told a key again (outpost bundle trust). Run again with --yes to confirm")
	}
	var st appliance.ProvisionStatus
	if err := Control(ctx, *data, "GET", "/provision", nil, &st); err != nil {
		return err
	}
	if err := Control(ctx, *data, "POST", "/provision/factory-reset", nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "box %s: MSP key unpinned, bundle version %d and site %q forgotten; the config in force stays until the next bundle\nthe box trusts no MSP key now: tell it one with `outpost bundle trust msp.pub`\n", st.BoxID, st.State.Version, st.State.Site)
	return nil
}

// bundleTrust tells the box which MSP key to trust. With the daemon
// running it takes effect at once (over the root-only control socket);
// with the daemon stopped it installs DATA/msp.pub, as `outpost install
// --msp-key` does, and the daemon trusts it at start unless it trusts
// another key already.
func bundleTrust(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "bundle trust", "bundle trust msp.pub|ed25519:KEY [--replace] [--data DIR]")
	data := DataDirFlag(fs)
	replace := fs.Bool("replace", false, "replace the MSP key the box trusts now (a technician at the box changing MSP)")
	if err := Parse(fs, reorder(args), true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return Usagef("bundle trust needs one KEY (msp.pub, or ed25519:...)")
	}
	key, err := bundle.ParsePublicKeyArg(fs.Arg(0))
	if err != nil {
		return err
	}
	var st provision.State
	err = Control(ctx, *data, "POST", "/provision/trust", appliance.TrustRequest{Key: identity.FormatPublicKey(key), Replace: *replace}, &st)
	if err == nil {
		fmt.Fprintf(env.Stdout, "this box trusts MSP key %s (id %s) now: %s\n", st.PinnedKey, identity.KeyID(key), st.PinnedBy)
		return nil
	}
	if !daemonDown(err) {
		return err
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "data" })
	if !explicit {
		// The default only finds a running daemon; a stopped one's key
		// goes where it will look, which only the technician knows.
		return fmt.Errorf("%w\nwith the daemon stopped, give its data directory (e.g. --data %s) to install the key there", err, defaultServiceData())
	}
	file, err := installMSPKey(*data, key, *replace)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "the daemon is not running: wrote %s (key id %s); the box trusts it from its next start, unless it trusts another key already (then run this again with the daemon running and --replace)\n", file, identity.KeyID(key))
	return nil
}

// daemonDown says whether a control call failed because no daemon listens
// (no socket, or a stale one), rather than because it refused.
func daemonDown(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED)
}

// installMSPKey writes DATA/msp.pub (creating DATA, mode 0750) for a
// daemon that is not running.
func installMSPKey(dataDir string, key ed25519.PublicKey, replace bool) (string, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", err
	}
	file := filepath.Join(dataDir, provision.TrustFileName)
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	if _, err := provision.WriteTrustFile(file, key, replace); err != nil {
		return "", err
	}
	return file, nil
}

// reorder moves flags before positional arguments (FILE --key x), since
// the flag package stops at the first positional one.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}
