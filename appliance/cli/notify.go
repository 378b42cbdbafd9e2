package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"outpost/notify"
)

func init() {
	Register(Command{Name: "notify", Summary: "notifications: notify test CHANNEL (sends a test message), notify log", Run: notifyCmd})
}

func notifyCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return Usagef("usage: outpost notify test CHANNEL [--config site.yaml] | outpost notify log [--data DIR]")
	}
	switch args[0] {
	case "test":
		if len(args) < 2 || strings.HasPrefix(args[1], "-") {
			return Usagef("usage: outpost notify test CHANNEL [--config site.yaml]")
		}
		name := args[1]
		fs := NewFlags(env, "notify test", "notify test CHANNEL [--config site.yaml]")
		cfgPath := configFlag(fs)
		if err := Parse(fs, args[2:], false); err != nil {
			return err
		}
		cfg, err := loadFlagConfig(*cfgPath)
		if err != nil {
			return err
		}
		chs, err := notify.ConfigOf(cfg).Build()
		if err != nil {
			return err
		}
		ch, ok := chs[name]
		if !ok {
			var names []string
			for n := range chs {
				names = append(names, n)
			}
			sort.Strings(names)
			return fmt.Errorf("no channel %q in the config (channels: %s)", name, strings.Join(names, ", "))
		}
		tctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		answer, err := notify.Test(tctx, ch, cfg.Site, time.Now())
		if err != nil {
			kind := "temporary"
			if notify.IsPermanent(err) {
				kind = "permanent"
			}
			return fmt.Errorf("test message to %s failed (%s): %w", name, kind, err)
		}
		fmt.Fprintf(env.Stdout, "test message sent to %s: %s\n", name, answer)
		return nil
	case "log":
		fs := NewFlags(env, "notify log", "notify log [--limit N] [--data DIR]")
		data := DataDirFlag(fs)
		limit := fs.Int("limit", 50, "at most this many attempts")
		if err := Parse(fs, args[1:], false); err != nil {
			return err
		}
		var out []notify.LogEntry
		if err := Control(ctx, *data, "GET", "/notify/log?limit="+strconv.Itoa(*limit), nil, &out); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tCHANNEL\tRECIPIENT\tINCIDENT\tKIND\tATTEMPT\tRESULT\tANSWER")
		for _, e := range out {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n", e.Time.Format("2006-01-02 15:04:05"), e.Channel, e.Recipient, e.Incident, e.Kind, e.Attempt, e.Result(), oneLine(e.Answer))
		}
		return tw.Flush()
	}
	return Usagef("unknown notify action %q (test, log)", args[0])
}

// oneLine keeps a server's answer on one table row.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
