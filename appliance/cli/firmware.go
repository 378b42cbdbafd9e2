package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"outpost/appliance"
	"outpost/firmware/bundle"
)

func init() {
	Register(Command{Name: "firmware", Summary: "self-update the box: apply a signed firmware bundle, status, rollback (at the box, as root)", Run: firmwareCmd})
}

const firmwareUsage = `firmware <subcommand>

On the box, as root, through the running daemon:
  firmware apply FILE [--force] [--binary-path PATH] [--health-window 5m] [--max-boots 3] [--data DIR]
                      verify a firmware bundle (outpost bundle firmware) and install it;
                      the daemon restarts into it and rolls back by itself if it is unhealthy
  firmware status [--data DIR]      running and highest version, an update in progress, the history
  firmware rollback [--binary-path PATH] [--data DIR]
                      put the previous binary (outpost.prev) back and restart into it`

func firmwareCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return Usagef("missing subcommand\n\nUsage: outpost %s", firmwareUsage)
	}
	switch args[0] {
	case "apply":
		return firmwareApply(ctx, env, args[1:])
	case "status":
		return firmwareStatus(ctx, env, args[1:])
	case "rollback":
		return firmwareRollback(ctx, env, args[1:])
	}
	return Usagef("unknown subcommand %q\n\nUsage: outpost %s", args[0], firmwareUsage)
}

func binaryPathFlag(fs interface {
	String(string, string, string) *string
}) *string {
	return fs.String("binary-path", "", "the installed outpost binary to replace (default: the path the service was started with)")
}

func firmwareApply(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "firmware apply", "firmware apply FILE [--force] [--binary-path PATH] [--health-window 5m] [--max-boots 3] [--data DIR]")
	data := DataDirFlag(fs)
	force := fs.Bool("force", false, "at the box only: allow a downgrade below the highest version run, the running version again, or a running version below the bundle's min-version")
	binPath := binaryPathFlag(fs)
	window := fs.Duration("health-window", 5*time.Minute, "how long the new version has to come up healthy after each start")
	maxBoots := fs.Int("max-boots", 3, "how many starts the new version gets before the previous one is put back")
	if err := Parse(fs, reorder(args), true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return Usagef("firmware apply needs one FILE (a bundle made with outpost bundle firmware; on a stick: /media/…/%s)", bundle.FirmwareFileName)
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", fs.Arg(0))
	}
	abs, _ := filepath.Abs(fs.Arg(0))
	q := url.Values{"source": {abs}, "window": {window.String()}, "max_boots": {fmt.Sprint(*maxBoots)}}
	if *force {
		q.Set("force", "1")
	}
	if *binPath != "" {
		bp, err := filepath.Abs(*binPath)
		if err != nil {
			return err
		}
		q.Set("binary", bp)
	}
	var res appliance.FirmwareResult
	// The daemon reads the file from the request, not from its path: the
	// service's /tmp is its own (PrivateTmp), and a stick may go away.
	if err := controlStream(ctx, *data, "/firmware/apply?"+q.Encode(), f, &res); err != nil {
		return err
	}
	if res.Result != "applied" {
		return fmt.Errorf("firmware update refused: %s (nothing changed)", res.Reason)
	}
	fmt.Fprintf(env.Stdout, "firmware %s installed in %s in place of %s (kept as %s.prev); the daemon restarts into it and has %s to come up healthy, else it goes back to %s by itself\n",
		res.To, res.Binary, res.From, res.Binary, res.Window, res.From)
	return nil
}

func firmwareStatus(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "firmware status", "firmware status [--data DIR]")
	data := DataDirFlag(fs)
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	var st appliance.FirmwareStatus
	if err := Control(ctx, *data, "GET", "/firmware", nil, &st); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "running:  %s (%s)\nhighest:  %s\n", st.Version, st.Binary, dash(st.Highest))
	if p := st.Pending; p != nil {
		fmt.Fprintf(env.Stdout, "update:   %s -> %s, %s, start %d of %d, health window %s\n", p.From, p.To, p.State, p.Boots, p.MaxBoots, p.Window)
	}
	if n := len(st.Events); n > 0 {
		fmt.Fprintln(env.Stdout, "history (newest last):")
		for _, e := range st.Events[max(0, n-10):] {
			fmt.Fprintf(env.Stdout, "  %s  %-12s %s -> %s", e.Time.Format(time.RFC3339), e.Result, dash(e.From), dash(e.To))
			if e.Reason != "" {
				fmt.Fprintf(env.Stdout, ": %s", e.Reason)
			}
			if e.Source != "" {
				fmt.Fprintf(env.Stdout, " (from %s)", e.Source)
			}
			fmt.Fprintln(env.Stdout)
		}
	}
	return nil
}

func firmwareRollback(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "firmware rollback", "firmware rollback [--binary-path PATH] [--data DIR]")
	data := DataDirFlag(fs)
	binPath := binaryPathFlag(fs)
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	path := "/firmware/rollback"
	if *binPath != "" {
		bp, err := filepath.Abs(*binPath)
		if err != nil {
			return err
		}
		path += "?" + url.Values{"binary": {bp}}.Encode()
	}
	var res appliance.FirmwareResult
	if err := Control(ctx, *data, "POST", path, nil, &res); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "rolled back %s to %s in %s; the daemon restarts into it\n", dash(res.From), dash(res.To), res.Binary)
	return nil
}

// controlStream POSTs body as it is (not JSON) to the daemon's control
// API and decodes its JSON answer into out.
func controlStream(ctx context.Context, dataDir, path string, body io.Reader, out any) error {
	return controlDo(ctx, dataDir, "POST", path, "application/octet-stream", body, 10*time.Minute, out)
}
