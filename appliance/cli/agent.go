package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/kardianos/service"

	"outpost/appliance"
	agentd "outpost/appliance/agent"
	"outpost/checks/agent"
)

func init() {
	Register(Command{Name: "agent", Summary: "agent mode: run/install on a server; pair-code, list, revoke, inventory, template on the box", Run: agentCmd})
}

// AgentServiceName is the agent's service name in the SCM and systemd.
var AgentServiceName = "outpost-agent"

const agentUsage = `agent <subcommand>

On a server (the agent), as Administrator or root:
  agent install   --box https://BOX:PORT --pair-code 123-456-789 [--box-fingerprint FP]
                  [--allow-service NAME]... [--allow-script NAME=ABSOLUTE-PATH]... [--allow-log LOG]...
                  [--listen ADDR] [--data DIR]
  agent run       [--listen ADDR] [--data DIR] [--box URL --pair-code CODE [--box-fingerprint FP]] [--allow-...]
  agent uninstall

  The --allow-* flags write the server's own allow-list (DIR/allow.yaml): the
  box can only narrow it. Without them install keeps an existing one, or
  writes one that allows no service, no script and the system logs only.

On the box (talks to the running daemon):
  agent pair-code NAME [--data DIR]
  agent list      [--data DIR]
  agent revoke NAME [--data DIR]
  agent inventory NAME [--data DIR]
  agent template exchange|sqlserver|iis [--agent NAME]`

func agentCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return Usagef("missing subcommand\n\nUsage: outpost %s", agentUsage)
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "run":
		return agentRun(ctx, env, rest)
	case "install":
		return agentInstall(ctx, env, rest)
	case "uninstall":
		return agentUninstall(env, rest)
	case "pair-code":
		return agentPairCode(ctx, env, rest)
	case "list":
		return agentList(ctx, env, rest)
	case "revoke":
		return agentRevoke(ctx, env, rest)
	case "inventory":
		return agentInventory(ctx, env, rest)
	case "template":
		return agentTemplate(env, rest)
	case "-h", "--help", "help":
		fmt.Fprintf(env.Stdout, "Usage: outpost %s\n", agentUsage)
		return nil
	}
	return Usagef("unknown subcommand %q\n\nUsage: outpost %s", sub, agentUsage)
}

func defaultAgentData() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(os.Getenv("ProgramData"), "Outpost", "agent")
	}
	return "/var/lib/outpost-agent"
}

type agentFlags struct {
	listen, data, box, code, boxFP *string
	services, scripts, logs        *stringList
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ", ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func addAgentFlags(fs *flag.FlagSet) agentFlags {
	f := agentFlags{
		listen:   fs.String("listen", agentd.DefaultListen, "address the agent serves the box on"),
		data:     fs.String("data", defaultAgentData(), "agent data directory (key, pairing, allow-list)"),
		box:      fs.String("box", "", "the box's https://host:port, for pairing"),
		code:     fs.String("pair-code", "", "one-time pair code from `outpost agent pair-code NAME` on the box"),
		boxFP:    fs.String("box-fingerprint", "", "the box's HTTPS certificate fingerprint printed with the pair code (optional: the code authenticates the box)"),
		services: &stringList{}, scripts: &stringList{}, logs: &stringList{},
	}
	fs.Var(f.services, "allow-service", "a service or systemd unit the box may restart, start and stop (repeat the flag for more)")
	fs.Var(f.scripts, "allow-script", "NAME=ABSOLUTE-PATH: a program the box may run by name, without a shell (arguments: edit allow.yaml)")
	fs.Var(f.logs, "allow-log", "a log the box may read: a Windows log name, journal, or an absolute file path (default: "+strings.Join(agentd.DefaultLogs(), ", ")+")")
	return f
}

// allowList writes the allow-list the --allow-* flags give. Without
// them, install (always) keeps an existing file or writes the default
// one; run leaves things as they are.
func (f agentFlags) allowList(env *Env, a *agentd.Agent, install bool) error {
	given := len(*f.services)+len(*f.scripts)+len(*f.logs) > 0
	switch {
	case given:
	case !install:
		return nil // the agent logs its allow-list, or what is wrong with it, when it starts serving
	default:
		if _, err := os.Stat(a.AllowPath()); err == nil {
			summary, err := a.AllowSummary()
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "keeping the allow-list %s: %s\n", a.AllowPath(), summary)
			return nil
		}
	}
	summary, err := a.SetAllowFlags(*f.services, *f.scripts, *f.logs)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "allow-list %s: %s\n", a.AllowPath(), summary)
	return nil
}

func (f agentFlags) pair(ctx context.Context, env *Env, a *agentd.Agent) error {
	st, err := a.Pair(ctx, agentd.PairOptions{BoxURL: *f.box, Code: *f.code, BoxFingerprint: *f.boxFP, Listen: *f.listen})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "paired with %s as %q (site %q): the box proved the pair code; its key %s is pinned\n", *f.box, st.Name, st.Site, st.BoxFingerprint)
	return nil
}

func agentRun(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "agent run", "agent run [--listen ADDR] [--data DIR] [--box URL --pair-code CODE]")
	f := addAgentFlags(fs)
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, nil))
	a, err := agentd.New(agentd.Options{DataDir: *f.data, Log: log, Version: appliance.Version})
	if err != nil {
		return err
	}
	if err := f.allowList(env, a, false); err != nil {
		return err
	}
	// Listen before pairing so the box learns the real port (":0" in
	// tests, or a port the technician chose).
	ln, err := net.Listen("tcp", *f.listen)
	if err != nil {
		return fmt.Errorf("agent listen %s: %w", *f.listen, err)
	}
	defer ln.Close()
	if *f.code != "" && !a.Paired() {
		*f.listen = ln.Addr().String()
		if err := f.pair(ctx, env, a); err != nil {
			return err
		}
	}
	serve := func(ctx context.Context) error {
		fmt.Fprintf(env.Stdout, "agent listening on %s (fingerprint %s)\n", ln.Addr(), a.Fingerprint())
		return a.Serve(ctx, ln)
	}
	if service.Interactive() {
		return serve(ctx)
	}
	// Under the Windows service manager the process must answer its
	// start/stop requests; kardianos/service does that handshake.
	p := &agentProgram{serve: serve}
	s, err := service.New(p, &service.Config{Name: AgentServiceName})
	if err != nil {
		return err
	}
	return s.Run()
}

// agentProgram adapts the agent to kardianos/service.
type agentProgram struct {
	serve  func(context.Context) error
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

func (p *agentProgram) Start(service.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() { p.done <- p.serve(ctx) }()
	return nil
}

func (p *agentProgram) Stop(service.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	select {
	case err := <-p.done:
		return err
	case <-time.After(20 * time.Second):
		return errors.New("agent did not stop within 20s")
	}
}

// AgentServiceConfig is what `outpost agent install` registers: the
// service runs `outpost agent run` with absolute paths.
func AgentServiceConfig(listen, dataDir string) (*service.Config, error) {
	absData, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	sc, err := ServiceConfig("", absData)
	if err != nil {
		return nil, err
	}
	sc.Name = AgentServiceName
	sc.DisplayName = "Outpost agent"
	sc.Description = "Outpost agent: lets the site's Outpost box watch this server and restart its services."
	sc.Arguments = []string{"agent", "run", "--listen", listen, "--data", absData}
	return sc, nil
}

func agentInstall(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "agent install", "agent install --box https://BOX:PORT --pair-code CODE [flags]")
	f := addAgentFlags(fs)
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *f.box == "" || *f.code == "" {
		return Usagef("--box and --pair-code are required (get a code with `outpost agent pair-code NAME` on the box)")
	}
	sc, err := AgentServiceConfig(*f.listen, *f.data)
	if err != nil {
		return err
	}
	a, err := agentd.New(agentd.Options{DataDir: *f.data, Log: slog.New(slog.NewTextHandler(env.Stderr, nil)), Version: appliance.Version})
	if err != nil {
		return err
	}
	if err := f.allowList(env, a, true); err != nil {
		return err
	}
	// Pair first: a wrong code or an unreachable box fails before
	// anything is installed.
	if err := f.pair(ctx, env, a); err != nil {
		return err
	}
	s, err := service.New(&agentProgram{}, sc)
	if err != nil {
		return err
	}
	if err := s.Install(); err != nil {
		return fmt.Errorf("installing service %q on %s: %w", AgentServiceName, service.Platform(), err)
	}
	if err := s.Start(); err != nil {
		return fmt.Errorf("starting service %q: %w", AgentServiceName, err)
	}
	fmt.Fprintf(env.Stdout, "installed and started service %q (%s): outpost %v\n", AgentServiceName, service.Platform(), sc.Arguments)
	return nil
}

func agentUninstall(env *Env, args []string) error {
	fs := NewFlags(env, "agent uninstall", "agent uninstall")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	s, err := service.New(&agentProgram{}, &service.Config{Name: AgentServiceName})
	if err != nil {
		return err
	}
	_ = s.Stop() // an already stopped service is fine
	if err := s.Uninstall(); err != nil {
		return fmt.Errorf("uninstalling service %q on %s: %w", AgentServiceName, service.Platform(), err)
	}
	fmt.Fprintf(env.Stdout, "service %q removed (its data directory is kept)\n", AgentServiceName)
	return nil
}

func nameArg(env *Env, name string, args []string) (string, string, error) {
	fs := NewFlags(env, "agent "+name, "agent "+name+" NAME [--data DIR]")
	data := DataDirFlag(fs)
	// Accept the name before or after the flags.
	var agentName string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		agentName, args = args[0], args[1:]
	}
	if err := Parse(fs, args, true); err != nil {
		return "", "", err
	}
	if agentName == "" && fs.NArg() > 0 {
		agentName = fs.Arg(0)
	}
	if agentName == "" {
		return "", "", Usagef("which agent? (outpost agent %s NAME)", name)
	}
	return agentName, *data, nil
}

func agentPairCode(ctx context.Context, env *Env, args []string) error {
	name, data, err := nameArg(env, "pair-code", args)
	if err != nil {
		return err
	}
	var a agent.PairCodeAnswer
	if err := Control(ctx, data, "POST", "/agents/pair-code", map[string]string{"name": name}, &a); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "pair code for agent %q: %s (one use, valid until %s; 5 wrong tries void it)\n", a.Agent, a.Code, a.Expires.Local().Format("15:04:05"))
	allow := ""
	for _, s := range a.Services {
		allow += " --allow-service " + shellWord(s)
	}
	var withArgs []string
	for _, s := range a.Scripts {
		allow += " --allow-script " + shellWord(s.Name+"="+s.Command)
		if len(s.Args) > 0 {
			withArgs = append(withArgs, s.Name)
		}
	}
	fmt.Fprintf(env.Stdout, "on the server, as Administrator or root, run:\n  outpost agent install --box %s --pair-code %s --box-fingerprint %s%s\n", pairURL(a.PairAddr), a.Code, a.BoxFingerprint, allow)
	fmt.Fprintln(env.Stdout, "the --allow-* flags are what this box's config asks of the agent; the server's allow-list decides (check them there)")
	if len(withArgs) > 0 {
		fmt.Fprintf(env.Stdout, "scripts with arguments (%s): add their args to allow.yaml on the server, as in the box's config\n", strings.Join(withArgs, ", "))
	}
	return nil
}

func agentList(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "agent list", "agent list [--data DIR]")
	data := DataDirFlag(fs)
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	var list []agent.AgentStatus
	if err := Control(ctx, *data, "GET", "/agents", nil, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tADDRESS\tHOST\tOS\tLAST SEEN")
	for _, s := range list {
		state := "not paired"
		switch {
		case s.Record.Revoked():
			state = "revoked " + s.Record.RevokedAt.Local().Format("2006-01-02 15:04")
			if s.RevocationPending {
				state += " (agent not told yet)"
			}
		case s.Paired:
			state = "paired"
		}
		if !s.Configured {
			state += " (not in config)"
		}
		seen := "-"
		if !s.Record.LastSeen.IsZero() {
			seen = s.Record.LastSeen.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, state, dash(s.Record.Address), dash(s.Record.Hostname), dash(s.Record.OS), seen)
	}
	return tw.Flush()
}

func agentRevoke(ctx context.Context, env *Env, args []string) error {
	name, data, err := nameArg(env, "revoke", args)
	if err != nil {
		return err
	}
	var a agent.RevokeAnswer
	if err := Control(ctx, data, "POST", "/agents/revoke", map[string]string{"name": name}, &a); err != nil {
		return err
	}
	if a.Told {
		fmt.Fprintf(env.Stdout, "agent %q revoked; it forgot this box too\n", name)
	} else {
		fmt.Fprintf(env.Stdout, "agent %q revoked on the box, which destroyed the key it presented to it; the agent could not be told now: the box delivers its signed revocation when the agent answers again (it tries every minute)\n", name)
	}
	return nil
}

func agentInventory(ctx context.Context, env *Env, args []string) error {
	name, data, err := nameArg(env, "inventory", args)
	if err != nil {
		return err
	}
	var inv map[string]any
	if err := Control(ctx, data, "POST", "/agents/inventory", map[string]string{"name": name}, &inv); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "agent %q: os %v, cpu %v, %d applications, %d patches (stored)\n", name, inv["os"], inv["cpu"], lenOf(inv["apps"]), lenOf(inv["patches"]))
	return nil
}

func lenOf(v any) int {
	if l, ok := v.([]any); ok {
		return len(l)
	}
	return 0
}

func agentTemplate(env *Env, args []string) error {
	fs := NewFlags(env, "agent template", "agent template exchange|sqlserver|iis [--agent NAME]")
	name := fs.String("agent", "AGENT", "agent name to put in the checks")
	var which string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		which, args = args[0], args[1:]
	}
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if which == "" {
		return Usagef("which template? (one of %v)", agent.TemplateNames())
	}
	out, err := agent.Template(which, *name)
	if err != nil {
		return err
	}
	fmt.Fprint(env.Stdout, out)
	return nil
}

// shellWord quotes a word for a command line when it needs it.
func shellWord(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'$`&|;<>()*?[]#~!") {
		return s
	}
	if runtime.GOOS == "windows" || strings.Contains(s, `\`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// pairURL is the --box URL for an agent: the UI address, with the box's
// LAN name to fill in when the UI listens on every address.
func pairURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "https://THIS-BOX"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "THIS-BOX"
	}
	return "https://" + net.JoinHostPort(host, port)
}
