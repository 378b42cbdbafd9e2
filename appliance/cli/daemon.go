package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kardianos/service"

	"outpost/appliance"
	"outpost/appliance/config"
	"outpost/appliance/scheduler"
	"outpost/checks"
	"outpost/checks/snmp"
)

func init() {
	Register(Command{Name: "run", Summary: "run the daemon in the foreground", Run: runCmd})
	Register(Command{Name: "check", Summary: "validate a config and print the schedule it would run", Run: checkCmd})
	Register(Command{Name: "once", Summary: "run every check once and print a table", Run: onceCmd})
	Register(Command{Name: "version", Summary: "print version, commit and build date", Run: versionCmd})
	Register(Command{Name: "status", Summary: "show the running daemon's health and checks (or the service state with --service)", Run: statusCmd})
}

func configFlag(fs interface {
	String(string, string, string) *string
}) *string {
	return fs.String("config", "", "site config file (YAML); empty runs the embedded default")
}

func runCmd(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "run", "run [--config site.yaml] [--data DIR] [--listen ADDR]")
	cfgPath := configFlag(fs)
	data := DataDirFlag(fs)
	listen := fs.String("listen", "", "status endpoint address (overrides the config's listen)")
	uiListen := fs.String("ui-listen", "", "web UI address (overrides the config's ui.listen)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	cpuProfile := fs.String("cpu-profile", "", "write a Go CPU profile of the whole run to this file (diagnostics)")
	tofu := fs.Bool("trust-first-stick", false, "trust on first use: a box in factory state that trusts no MSP key trusts the first bundle's (outpost install --trust-first-stick)")
	storeKey := fs.String("store-key", "", "file with the key that seals the store's secrets (default: systemd credential outpost-store-key, else DATA/keys/store.key)")
	bootKey := fs.String("boot-msp-key", "", "the boot partition's MSP key file, trusted in factory state (default: "+strings.Join(appliance.DefaultBootMSPKeyFiles(), ", ")+")")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return Usagef("--log-level: %v", err)
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: lvl}))
	o := appliance.Options{ConfigPath: *cfgPath, DataDir: *data, Listen: *listen, UIListen: *uiListen, Log: log, TrustFirstStick: *tofu, StoreKey: *storeKey}
	if *bootKey != "" {
		o.BootMSPKeyFiles = []string{*bootKey}
	}
	if runtime.GOOS == "windows" && !service.Interactive() {
		// Started by the Windows service manager: it needs the handshake.
		return RunAsService(o)
	}
	return RunDaemon(ctx, o)
}

// RunDaemon builds and runs the appliance until ctx ends; SIGHUP reloads
// the config file. It is shared by `outpost run` and the service.
func RunDaemon(ctx context.Context, o appliance.Options) error {
	a, err := appliance.New(o)
	if err != nil {
		return err
	}
	defer a.Close()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := a.Reload(); err != nil {
					o.Log.Error("config reload refused; the running config stays", "err", err)
				}
			}
		}
	}()
	if err := a.Run(ctx); err != nil {
		return err
	}
	o.Log.Info("outpost stopped cleanly")
	return nil
}

func loadFlagConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default()
	}
	return config.Load(path)
}

// loadJobs loads a config (or the embedded default) and builds its checks
// with an SNMP poller of their own. A command runs no agent client: agent
// checks say that agent mode is not running.
func loadJobs(path string) (*config.Config, []scheduler.Job, error) {
	cfg, err := loadFlagConfig(path)
	if err != nil {
		return nil, nil, err
	}
	jobs, err := appliance.BuildJobs(cfg, checks.Deps{SNMP: snmp.NewPoller(nil)})
	return cfg, jobs, err
}

func checkCmd(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "check", "check [--config site.yaml] | check --kinds")
	cfgPath := configFlag(fs)
	kinds := fs.Bool("kinds", false, "list the check kinds, notification channel kinds and healing actions this build knows, instead of checking a config")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *kinds {
		if *cfgPath != "" {
			return Usagef("--kinds lists what this build knows; it reads no --config")
		}
		return printKinds(env.Stdout)
	}
	cfg, jobs, err := loadJobs(*cfgPath)
	if err != nil {
		return err
	}
	name := cfg.File
	if *cfgPath == "" {
		name = "embedded default config"
	}
	builtin := 0
	for _, c := range cfg.Checks {
		if c.Builtin {
			builtin++
		}
	}
	fmt.Fprintf(env.Stdout, "%s: ok, site %q, %d checks", name, cfg.Site, len(jobs)-builtin)
	if builtin > 0 {
		fmt.Fprintf(env.Stdout, " (+ %d built in)", builtin)
	}
	fmt.Fprint(env.Stdout, "\n\n")
	s := scheduler.New(scheduler.Options{})
	s.Set(jobs)
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tKIND\tTARGET\tINTERVAL\tTIMEOUT\tSEVERITY\tOFFSET\tNEXT RUN")
	for _, p := range s.Plan() {
		sp := p.Spec
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t+%s\t%s\n", sp.ID, sp.Kind, dash(sp.Target), sp.Interval, sp.Timeout, sp.Labels.Severity, p.Phase.Round(time.Millisecond), p.Next.Format("15:04:05.000"))
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "\nRuns per minute: %.1f (concurrency limit %d)\n", runsPerMinute(jobs), cfg.Scheduler.Concurrency)
	return nil
}

func runsPerMinute(jobs []scheduler.Job) float64 {
	var n float64
	for _, j := range jobs {
		n += float64(time.Minute) / float64(j.Spec.Interval)
	}
	return n
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func onceCmd(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "once", "once [--config site.yaml] [--only ID,...]")
	cfgPath := configFlag(fs)
	only := fs.String("only", "", "comma-separated check ids to run (default all)")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	cfg, jobs, err := loadJobs(*cfgPath)
	if err != nil {
		return err
	}
	if *only != "" {
		want := map[string]bool{}
		for _, id := range strings.Split(*only, ",") {
			want[strings.TrimSpace(id)] = true
		}
		kept := jobs[:0]
		for _, j := range jobs {
			if want[j.Spec.ID] {
				kept = append(kept, j)
				delete(want, j.Spec.ID)
			}
		}
		for id := range want {
			return Usagef("--only: no check %q in the config", id)
		}
		jobs = kept
	}
	results := RunOnce(ctx, jobs, cfg.Scheduler.Concurrency)
	printResults(env.Stdout, jobs, results)
	bad := 0
	for _, r := range results {
		if r.Status != checks.OK {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d checks not ok", bad, len(results))
	}
	return nil
}

// RunOnce runs every job once with at most conc at a time and returns the
// results in job order.
func RunOnce(ctx context.Context, jobs []scheduler.Job, conc int) []checks.Result {
	results := make([]checks.Result, len(jobs))
	sem := make(chan struct{}, max(conc, 1))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, j.Spec.Timeout)
			defer cancel()
			start := time.Now()
			r := j.Checker.Check(cctx)
			if r.Time.IsZero() {
				r.Time = start
			}
			results[i] = r
		}()
	}
	wg.Wait()
	return results
}

func printResults(w io.Writer, jobs []scheduler.Job, results []checks.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tTARGET\tSTATUS\tLATENCY\tDETAIL")
	for i, j := range jobs {
		r := results[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.Spec.ID, dash(j.Spec.Target), strings.ToUpper(r.Status.String()), fmtLatency(r.Latency), r.Detail)
	}
	tw.Flush()
}

func fmtLatency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return d.Round(10 * time.Millisecond).String()
}

func versionCmd(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "version", "version")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "outpost %s (commit %s, built %s)\n", appliance.Version, appliance.Commit, appliance.BuildDate)
	return nil
}

func statusCmd(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "status", "status [--data DIR] [--service]")
	data := DataDirFlag(fs)
	svc := fs.Bool("service", false, "show the system service's state instead of the daemon's")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *svc {
		return serviceAction(env, "status")
	}
	var h appliance.Health
	if err := Control(ctx, *data, "GET", "/health", nil, &h); err != nil {
		return err
	}
	var cs []appliance.CheckState
	if err := Control(ctx, *data, "GET", "/checks", nil, &cs); err != nil {
		return err
	}
	state := "healthy"
	if !h.OK {
		state = "UNHEALTHY: " + strings.Join(h.Problems, "; ")
	}
	fmt.Fprintf(env.Stdout, "outpost %s, up %s, %s\n%d checks, scheduling lateness p99 %s, last store commit %s\n",
		h.Version, h.Uptime.Round(time.Second), state, h.Checks, fmtLatency(h.LatenessP99), fmtTime(h.LastCommit, "not yet (nothing written since the daemon started)"))
	fmt.Fprintf(env.Stdout, "clock: %s (box time %s): %s\n", h.Clock.Sync, time.Now().UTC().Format("2006-01-02 15:04:05 MST"), h.Clock.Detail)
	for _, w := range h.Warnings {
		fmt.Fprintf(env.Stdout, "warning: %s\n", w)
	}
	fmt.Fprintln(env.Stdout)
	sort.SliceStable(cs, func(i, j int) bool { return rank(cs[i]) > rank(cs[j]) })
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tKIND\tTARGET\tSTATUS\tSINCE\tDETAIL")
	for _, c := range cs {
		st, detail, since := "PENDING", "not run yet", "-"
		if c.Latest != nil {
			st, detail = strings.ToUpper(c.Latest.Status.String()), c.Latest.Detail
		}
		if !c.Since.IsZero() {
			since = c.Since.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Kind, dash(c.Target), st, since, detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var fl appliance.ForecastList
	if err := Control(ctx, *data, "GET", "/forecasts", nil, &fl); err != nil {
		return fmt.Errorf("asking the daemon for its forecasts: %w", err)
	}
	printForecasts(env.Stdout, fl)
	return nil
}

// maxStatusForecasts bounds the forecasts `outpost status` lists.
const maxStatusForecasts = 10

// printForecasts lists the next series to fill, soonest first: those
// with a threshold crossed already or ahead, or growing fast.
func printForecasts(w io.Writer, fl appliance.ForecastList) {
	var shown []checks.SeriesForecast
	learning := 0
	for _, f := range fl.Forecasts {
		switch {
		case f.Forecast == nil:
			learning++
		case f.Past() != nil || f.Next() != nil || (f.Growth != nil && f.Growth.Alarm):
			shown = append(shown, f)
		}
	}
	fmt.Fprintf(w, "\ncapacity: %d series forecast", len(fl.Forecasts))
	if learning > 0 {
		fmt.Fprintf(w, " (%d still learning)", learning)
	}
	if len(shown) == 0 {
		fmt.Fprintln(w, ", none heading for a threshold")
		return
	}
	fmt.Fprintf(w, ", next to fill first (! within %s):\n", fmtHorizon(fl.Horizon))
	for i, f := range shown {
		if i == maxStatusForecasts {
			fmt.Fprintf(w, "  ... and %d more (outpost report)\n", len(shown)-i)
			break
		}
		mark := " "
		if f.Alarming(fl.Horizon) {
			mark = "!"
		}
		fmt.Fprintf(w, "%s %s\n", mark, f.Sentence(fl.Horizon))
	}
}

func fmtHorizon(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// fmtTime prints t as a technician reads it, or none ("not yet", "not
// recorded") for the zero time: never 0001-01-01.
func fmtTime(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.Local().Format(time.RFC3339)
}

func rank(c appliance.CheckState) int {
	if c.Latest == nil {
		return 0
	}
	switch c.Latest.Status {
	case checks.Critical:
		return 3
	case checks.Warning:
		return 2
	case checks.Unknown:
		return 1
	}
	return 0
}
