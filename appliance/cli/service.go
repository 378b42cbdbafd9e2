package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/kardianos/service"

	"outpost/appliance"
	"outpost/appliance/config"
	"outpost/firmware/bundle"
	"outpost/firmware/identity"
	"outpost/firmware/provision"
)

func init() {
	Register(Command{Name: "install", Summary: "register outpost with the service manager (systemd, Windows services)", Run: installCmd})
	Register(Command{Name: "uninstall", Summary: "remove the outpost service", Run: func(ctx context.Context, env *Env, args []string) error {
		return simpleServiceCmd(env, "uninstall", args)
	}})
	Register(Command{Name: "start", Summary: "start the installed service", Run: func(ctx context.Context, env *Env, args []string) error { return simpleServiceCmd(env, "start", args) }})
	Register(Command{Name: "stop", Summary: "stop the installed service", Run: func(ctx context.Context, env *Env, args []string) error { return simpleServiceCmd(env, "stop", args) }})
}

// ServiceName is the service's name in systemd and the Windows SCM.
var ServiceName = "outpost"

// systemdUnit is kardianos/service's unit template, replaced so that the
// box restarts within seconds after a crash (the library's default waits
// two minutes) and never gives up restarting, SIGHUP reloads config, and
// the daemon is confined. It stays root (mounting sticks needs
// CAP_SYS_ADMIN in the initial user namespace, and restarting units is
// PID 1 trusting uid 0 over its socket, which needs no capability), but
// keeps only the capabilities its features use: CAP_NET_RAW for ICMP,
// CAP_NET_BIND_SERVICE for ports below 1024, CAP_SYS_ADMIN for mount(2).
// The file system is read-only except the data directory (the store, the
// control socket, the stick mounts under usb/) and the mount roots where
// the OS automounts sticks (receipts are written there); a missing mount
// root is ignored ("-"). Remediation commands inherit all of this.
// %s is the mount roots, filled in by unitFor.
const systemdUnit = `[Unit]
Description={{Description}}
ConditionFileIsExecutable={{Path | cmdEscape}}
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}
{{if WorkingDirectory}}WorkingDirectory={{WorkingDirectory | cmdEscape}}
{{end}}{{if UserName}}User={{UserName}}
{{end}}ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5
TimeoutStopSec=30
KillMode=mixed
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={{if WorkingDirectory}}{{WorkingDirectory | cmdEscape}} {{end}}%s
ProtectHome=yes
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
CapabilityBoundingSet=CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_SYS_ADMIN
AmbientCapabilities=CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_SYS_ADMIN

[Install]
WantedBy=multi-user.target
`

// ServiceConfig is what `outpost install` registers: the service runs
// `outpost run` with absolute config and data paths, and runFlags, from
// the running binary's path.
func ServiceConfig(configPath, dataDir string, runFlags ...string) (*service.Config, error) {
	return serviceConfigAt("", configPath, dataDir, runFlags...)
}

// serviceConfigAt is ServiceConfig with the service's binary at bin (the
// running binary when empty). The binary's directory is writable by the
// service, so that a firmware update can stage, keep the previous binary
// and rename beside it (docs/firmware.md).
func serviceConfigAt(bin, configPath, dataDir string, runFlags ...string) (*service.Config, error) {
	args := []string{"run"}
	roots := config.DefaultMountRoots
	if configPath != "" {
		abs, err := filepath.Abs(configPath)
		if err != nil {
			return nil, err
		}
		cfg, err := config.Load(abs)
		if err != nil {
			return nil, fmt.Errorf("refusing to install with a config that does not load:\n%w", err)
		}
		roots = append(slices.Clone(roots), cfg.Provisioning.MountRoots...)
		args = append(args, "--config", abs)
	}
	absData, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	args = append(append(args, "--data", absData), runFlags...)
	var writable []string
	if bin != "" {
		writable = append(writable, filepath.Dir(bin))
	}
	return &service.Config{
		Name:             ServiceName,
		Executable:       bin,
		DisplayName:      "Outpost monitoring appliance",
		Description:      "Outpost: watches the site, heals what it can, notifies the MSP.",
		Arguments:        args,
		WorkingDirectory: absData,
		Option: service.KeyValue{
			"SystemdScript": unitFor(writable, roots),
			"Restart":       "on-failure",
			// Windows: restart on failure, start at boot.
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "5s",
			"OnFailureResetPeriod":   86400,
			"StartType":              "automatic",
			"DelayedAutoStart":       true,
		},
	}, nil
}

// unitFor is systemdUnit with dirs (the binary's own directory) and the
// mount roots writable: the defaults and the installed config's, each "-"
// prefixed so a missing one is skipped (a config changed later by stick
// or UI to other roots needs a reinstall for receipts there).
func unitFor(dirs, roots []string) string {
	var rw []string
	for _, d := range dirs {
		rw = append(rw, filepath.Clean(d))
	}
	for _, r := range roots {
		r = "-" + filepath.Clean(r)
		if !slices.Contains(rw, r) {
			rw = append(rw, r)
		}
	}
	return fmt.Sprintf(systemdUnit, strings.Join(rw, " "))
}

func installCmd(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "install", "install [--config site.yaml] [--data DIR] [--msp-key msp.pub|ed25519:KEY] [--trust-first-stick] [--bin-dir DIR]")
	cfgPath := configFlag(fs)
	data := fs.String("data", defaultServiceData(), "data directory for the service")
	mspKey := fs.String("msp-key", "", "the MSP's public key (msp.pub, or ed25519:...): the only key whose provisioning sticks the box applies")
	tofu := fs.Bool("trust-first-stick", false, "without --msp-key: let the box, while in factory state, trust the key of the first stick inserted (shown as such on the settings page)")
	binDir := fs.String("bin-dir", DefaultBinDir(), "directory the service's binary is copied to, writable by the service for firmware updates (empty: run it from where it is)")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	var flags []string
	if *tofu {
		flags = append(flags, "--trust-first-stick")
	}
	// Checked before anything is written: a config that does not load
	// installs nothing.
	if _, err := ServiceConfig(*cfgPath, *data, flags...); err != nil {
		return err
	}
	var bin, placed string
	if *binDir != "" {
		ran, err := os.Executable()
		if err != nil {
			return err
		}
		if bin, err = placeBinary(ran, *binDir); err != nil {
			return err
		}
		note, err := linkCommand(bin, ran, DefaultLinkDir)
		if err != nil {
			return err
		}
		placed = fmt.Sprintf("binary %s (the service may replace it on firmware updates); %s\n", bin, note)
	}
	sc, err := serviceConfigAt(bin, *cfgPath, *data, flags...)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*data, 0o750); err != nil {
		return err
	}
	trust := "no MSP key given: the box refuses every provisioning stick until it is told one (outpost bundle trust msp.pub, or " +
		provision.BootFileName + " on the boot partition)"
	if *tofu {
		trust = "no MSP key given: while in factory state the box trusts the key of the first stick inserted (--trust-first-stick)"
	}
	if *mspKey != "" {
		key, err := bundle.ParsePublicKeyArg(*mspKey)
		if err != nil {
			return fmt.Errorf("--msp-key: %w", err)
		}
		// Installing is the technician at the box: it may replace the
		// file. A key the box trusts already stays until `bundle trust
		// --replace`.
		file, err := installMSPKey(*data, key, true)
		if err != nil {
			return err
		}
		trust = fmt.Sprintf("MSP key %s installed in %s: the box applies sticks signed by it only", identity.KeyID(key), file)
	}
	s, err := service.New(&program{}, sc)
	if err != nil {
		return err
	}
	if err := s.Install(); err != nil {
		return fmt.Errorf("installing service on %s: %w", service.Platform(), err)
	}
	fmt.Fprintf(env.Stdout, "installed service %q (%s): outpost %v\n%s%s\nstart it with `outpost start`\n", ServiceName, service.Platform(), sc.Arguments, placed, trust)
	return nil
}

func defaultServiceData() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(os.Getenv("ProgramData"), "Outpost")
	}
	return "/var/lib/outpost"
}

func simpleServiceCmd(env *Env, action string, args []string) error {
	fs := NewFlags(env, action, action)
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	return serviceAction(env, action)
}

func serviceAction(env *Env, action string) error {
	s, err := service.New(&program{}, &service.Config{Name: ServiceName})
	if err != nil {
		return err
	}
	if action == "status" {
		st, err := s.Status()
		if err != nil {
			return fmt.Errorf("service %q on %s: %w", ServiceName, service.Platform(), err)
		}
		names := map[service.Status]string{service.StatusRunning: "running", service.StatusStopped: "stopped"}
		name, ok := names[st]
		if !ok {
			name = "unknown"
		}
		fmt.Fprintf(env.Stdout, "service %q: %s\n", ServiceName, name)
		return nil
	}
	if err := service.Control(s, action); err != nil {
		return fmt.Errorf("%s service %q on %s: %w", action, ServiceName, service.Platform(), err)
	}
	fmt.Fprintf(env.Stdout, "service %q: %s done\n", ServiceName, action)
	return nil
}

// program adapts the daemon to kardianos/service for the Windows SCM,
// where the service must answer start/stop requests itself.
type program struct {
	opts   appliance.Options
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
}

func (p *program) Start(s service.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() { p.done <- RunDaemon(ctx, p.opts) }()
	return nil
}

func (p *program) Stop(s service.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	if err := <-p.done; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// RunAsService runs the daemon under a service manager that needs the
// handshake (Windows). On systemd `outpost run` is enough.
func RunAsService(o appliance.Options) error {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s, err := service.New(&program{opts: o}, &service.Config{Name: ServiceName})
	if err != nil {
		return err
	}
	return s.Run()
}
