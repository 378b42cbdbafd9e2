package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"outpost/checks"
	"outpost/checks/snmp"
)

func init() {
	Register(Command{Name: "snmp", Summary: "SNMP tools: `snmp probe` shows what Outpost reads from a device, `snmp traps` prints received traps", Run: runSNMP})
}

func runSNMP(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return Usagef("expected a subcommand: probe or traps")
	}
	switch args[0] {
	case "probe":
		return runSNMPProbe(ctx, env, args[1:])
	case "traps":
		return runSNMPTraps(ctx, env, args[1:])
	}
	return Usagef("unknown subcommand %q (probe or traps)", args[0])
}

// snmpFlags are the credential flags shared by probe and traps.
type snmpFlags struct {
	version, community, user, level, authProto, authPass, privProto, privPass, context string
}

func runSNMPProbe(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "snmp probe", "snmp probe --target host[:port] (--community c | --user u ...) [flags]")
	target := fs.String("target", "", "device address, host or host:port (port 161 by default)")
	var f snmpFlags
	fs.StringVar(&f.version, "version", "", "SNMP version: 1, 2c or 3 (default 2c, or 3 when --user is set)")
	fs.StringVar(&f.community, "community", "", "v1/v2c community")
	f.addV3(fs, "SNMPv3 user")
	fs.StringVar(&f.context, "context", "", "SNMPv3 context name")
	timeout := fs.Duration("timeout", 2*time.Second, "per-request timeout")
	retries := fs.Int("retries", 1, "retries after a timeout")
	total := fs.Duration("deadline", 60*time.Second, "give up on the whole probe after this long")
	asJSON := fs.Bool("json", false, "print JSON (field names in docs/snmp.md)")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *target == "" {
		return Usagef("--target is required")
	}
	t, err := snmpTarget(*target, f)
	if err != nil {
		return Usagef("%v", err)
	}
	t.Timeout, t.Retries = *timeout, *retries
	if err := t.Validate(); err != nil {
		return Usagef("%v", err)
	}
	s, err := snmp.Dial(t)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(ctx, *total)
	defer cancel()
	r, err := snmp.Probe(ctx, s)
	if err != nil {
		return fmt.Errorf("probing %s: %w", r.Target, err)
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.WriteText(env.Stdout)
}

func snmpTarget(addr string, f snmpFlags) (snmp.Target, error) {
	host, port, err := snmp.SplitHostPort(addr)
	if err != nil {
		return snmp.Target{}, err
	}
	t := snmp.Target{Name: addr, Address: host, SNMP: checks.SNMP{Port: port, Version: f.version, Community: checks.Secret(f.community), User: f.user,
		SecurityLevel: f.level, AuthProtocol: f.authProto, AuthPassword: checks.Secret(f.authPass), PrivProtocol: f.privProto, PrivPassword: checks.Secret(f.privPass), Context: f.context}}
	if t.Version == "" && t.User != "" {
		t.Version = "3"
	}
	return t.WithDefaults(), nil
}

func runSNMPTraps(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "snmp traps", "snmp traps [--listen 127.0.0.1:1162] [--community c]... [--json]")
	listen := fs.String("listen", "127.0.0.1:1162", "UDP address to receive traps on (162 needs privileges)")
	var communities multiFlag
	fs.Var(&communities, "community", "accepted v1/v2c community (repeatable; none accepts any)")
	var f snmpFlags
	f.addV3(fs, "SNMPv3 user traps are sent as")
	asJSON := fs.Bool("json", false, "print one JSON event per line")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	// A tool run by the technician to see what arrives: any sender, and
	// any community unless --community narrows it.
	cfg := snmp.TrapConfig{AcceptUnknownSources: true, AcceptAnyCommunity: len(communities) == 0}
	for _, c := range communities {
		cfg.Communities = append(cfg.Communities, c)
	}
	if f.user != "" {
		cfg.Users = append(cfg.Users, checks.TrapUser{User: f.user, SecurityLevel: f.level, AuthProtocol: f.authProto,
			AuthPassword: checks.Secret(f.authPass), PrivProtocol: f.privProto, PrivPassword: checks.Secret(f.privPass)})
	}
	enc := json.NewEncoder(env.Stdout)
	rcv, err := snmp.NewTrapReceiver(*listen, cfg, func(e checks.Event) {
		if *asJSON {
			enc.Encode(e)
			return
		}
		fmt.Fprintf(env.Stdout, "%s %s %s [%s] %s\n", e.Time.Format(time.RFC3339), e.Device, e.Name, e.Severity, e.Detail)
	})
	if err != nil {
		return Usagef("%v", err)
	}
	fmt.Fprintf(env.Stderr, "listening for SNMP traps on %s, SNMPv3 engine ID 0x%x for informs (Ctrl-C to stop)\n", rcv.Addr(), rcv.EngineID())
	return rcv.Run(ctx)
}

type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint([]string(*m)) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// addV3 adds the SNMPv3 user flags both snmp commands take.
func (f *snmpFlags) addV3(fs *flag.FlagSet, userHelp string) {
	fs.StringVar(&f.user, "user", "", userHelp)
	fs.StringVar(&f.level, "security-level", "", "SNMPv3 security level: noAuthNoPriv, authNoPriv, authPriv (default from the protocols given)")
	fs.StringVar(&f.authProto, "auth-protocol", "", "SNMPv3 auth: MD5, SHA, SHA224, SHA256, SHA384, SHA512")
	fs.StringVar(&f.authPass, "auth-password", "", "SNMPv3 auth password")
	fs.StringVar(&f.privProto, "priv-protocol", "", "SNMPv3 privacy: DES, AES, AES192, AES256, AES192C, AES256C")
	fs.StringVar(&f.privPass, "priv-password", "", "SNMPv3 privacy password")
}
