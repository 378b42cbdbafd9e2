package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"outpost/checks/backup"
)

func init() {
	Register(Command{Name: "backups", Summary: "backup jobs' dead-man's switch: backups [list] (last runs, durations, output), backups new-id", Run: backupsCmd})
}

const backupsUsage = "usage: outpost backups [list] [--runs N] [--lines N] [--json] [--data DIR] | outpost backups new-id"

func backupsCmd(ctx context.Context, env *Env, args []string) error {
	action := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	}
	switch action {
	case "new-id":
		fs := NewFlags(env, "backups new-id", "backups new-id")
		if err := Parse(fs, args, false); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, backup.NewID())
		return nil
	case "list":
		fs := NewFlags(env, "backups", "backups [list] [--runs N] [--lines N] [--json] [--data DIR]")
		data := DataDirFlag(fs)
		runs := fs.Int("runs", 5, "runs shown per job, newest first (0: all kept)")
		lines := fs.Int("lines", 5, "lines of each run's output shown (its tail; 0: none)")
		asJSON := fs.Bool("json", false, "print the daemon's answer as JSON (every run's whole kept output)")
		if err := Parse(fs, args, false); err != nil {
			return err
		}
		if *runs < 0 || *lines < 0 {
			return Usagef("--runs and --lines must not be negative")
		}
		var reports []backup.Report
		if err := Control(ctx, *data, "GET", "/backups?runs="+strconv.Itoa(*runs), nil, &reports); err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(reports)
		}
		return printBackups(env.Stdout, reports, *lines)
	}
	return Usagef("unknown backups action %q (list, new-id); %s", action, backupsUsage)
}

// printBackups writes each job: its verdict, URL and schedule, then its
// runs with the tail of their output.
func printBackups(w io.Writer, reports []backup.Report, lines int) error {
	if len(reports) == 0 {
		fmt.Fprintln(w, "no backup jobs configured (a check of kind backup; see docs/backups.md)")
		return nil
	}
	for i, r := range reports {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s  %s  %s, grace %s, max_duration %s\n", r.Check, strings.ToUpper(r.Status.String()), r.Schedule, backup.ShortDuration(r.Grace), backup.ShortDuration(r.MaxDuration))
		fmt.Fprintf(w, "  %s\n", terminalSafe(r.Detail))
		url := r.URL
		if url == "" {
			url = "/ping/" + r.UUID + " (the web UI, which serves pings, is off)"
		}
		fmt.Fprintf(w, "  ping URL: %s\n", url)
		if !r.LastSuccess.IsZero() {
			fmt.Fprintf(w, "  last success: %s\n", stamp(r.LastSuccess))
		}
		if len(r.Runs) == 0 {
			fmt.Fprintln(w, "  no pings yet")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  STARTED\tFINISHED\tDURATION\tRESULT\tFROM")
		for _, run := range r.Runs {
			result := run.Result
			if run.Exit != nil {
				result += fmt.Sprintf(" (exit %d)", *run.Exit)
			}
			dur := "-"
			if run.Duration > 0 {
				dur = backup.ShortDuration(run.Duration)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", stamp(run.Started), stamp(run.Finished), dur, result, terminalSafe(run.Source))
		}
		tw.Flush()
		for _, run := range r.Runs {
			out := tailLines(run.Output, lines)
			if out == nil {
				continue
			}
			when := run.Finished
			if when.IsZero() {
				when = run.Started
			}
			fmt.Fprintf(w, "  output of the %s run at %s (last %d lines of %d bytes received):\n", run.Result, stamp(when), len(out), run.BodyBytes)
			for _, l := range out {
				fmt.Fprintf(w, "    | %s\n", terminalSafe(l))
			}
		}
	}
	return nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// tailLines is the last n non-empty-trailing lines of s (nil: none).
func tailLines(s string, n int) []string {
	s = strings.TrimRight(s, "\n\t ")
	if n <= 0 || s == "" {
		return nil
	}
	ls := strings.Split(s, "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return ls
}

// terminalSafe drops control characters from what a backup job sent, so
// that printing it cannot move the cursor or rewrite the terminal (the
// box cleans it on the way in too).
func terminalSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return '?'
		}
		return r
	}, s)
}
