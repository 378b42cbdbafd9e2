package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"outpost/appliance"
	"outpost/appliance/config"
	"outpost/checks"
)

func init() {
	Register(Command{Name: "logs", Summary: "search the syslog lines and traps the daemon keeps: logs [--device D] [--severity S] [--grep RE] [--since DUR]", Run: logsCmd})
}

func logsCmd(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "logs", "logs [--device D[,D]] [--severity S] [--grep RE] [--since DUR] [--source syslog|trap|eventlog|journal|any] [--limit N] [--json] [--stats] [--rules] [--data DIR]")
	data := DataDirFlag(fs)
	var devices []string
	fs.Func("device", "only this device (a configured name, or the address lines from other sources are named by); repeat or separate with commas", func(s string) error {
		devices = append(devices, s)
		return nil
	})
	severity := fs.String("severity", "", "at least this syslog severity: emerg, alert, crit, err, warning, notice, info, debug (traps: critical is crit, warning is warning)")
	grep := fs.String("grep", "", "a regular expression (RE2) the line's \"app: message\" (a trap's \"name: detail name=value ...\") must match; (?i) ignores case")
	since := fs.String("since", "24h", "how far back to look (e.g. 30m, 2h, 7d)")
	source := fs.String("source", "any", "syslog, trap, eventlog (agents' logs kept by agent_eventlog keep: true), journal (the box's own, syslog.journal), or any")
	limit := fs.Int("limit", 100, "at most this many, the newest (1 to 10000)")
	asJSON := fs.Bool("json", false, "one JSON event per line")
	stats := fs.Bool("stats", false, "the receiver's counters and what the store keeps, instead of lines")
	rules := fs.Bool("rules", false, "the shipped log rules a log_match check names with rule: (no daemon needed)")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *rules {
		return shippedRules(env, *asJSON)
	}
	if *stats {
		return logsStats(ctx, env, *data, *asJSON)
	}
	if d, err := config.ParseDuration(*since); err != nil || d <= 0 {
		return Usagef("--since %q is not a duration (e.g. 30m, 2h, 7d)", *since)
	}
	if *severity != "" {
		if _, err := checks.ParseSyslogSeverity(*severity); err != nil {
			return Usagef("--severity: %v", err)
		}
	}
	if *limit < 1 || *limit > 10_000 {
		return Usagef("--limit %d is not 1 to 10000", *limit)
	}
	q := url.Values{"since": {*since}, "source": {*source}, "limit": {strconv.Itoa(*limit)}}
	for _, d := range devices {
		q.Add("device", d)
	}
	if *severity != "" {
		q.Set("severity", *severity)
	}
	if *grep != "" {
		q.Set("grep", *grep)
	}
	var ans appliance.LogsAnswer
	if err := Control(ctx, *data, "GET", "/logs?"+q.Encode(), nil, &ans); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		for _, e := range ans.Events {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	if len(ans.Events) == 0 {
		fmt.Fprintf(env.Stdout, "no matching lines or traps in the last %s (%d read)\n", *since, ans.Scanned)
	}
	for _, e := range ans.Events {
		writeEvent(env.Stdout, e)
	}
	switch {
	case ans.Partial:
		fmt.Fprintf(env.Stderr, "search stopped after %d events: narrow it with --since or --device for older ones\n", ans.Scanned)
	case ans.More:
		fmt.Fprintf(env.Stderr, "older matches not shown: raise --limit or narrow --since\n")
	}
	return nil
}

// writeEvent prints one event as a syslog-like line: when, device,
// facility.severity (a trap's "trap" and status), and "app[pid]:
// message" or "name: detail".
func writeEvent(w io.Writer, e checks.Event) {
	f := e.Fields
	when := e.Time.Local().Format("2006-01-02 15:04:05")
	if checks.LineSource(e.Source) {
		tag := e.Name
		if p := f[checks.FieldProcID]; p != "" {
			tag += "[" + p + "]"
		}
		host := ""
		if h := f[checks.FieldHost]; h != "" && h != e.Device {
			host = " (" + h + ")"
		}
		fmt.Fprintf(w, "%s %s%s %s.%s %s: %s\n", when, e.Device, host, f[checks.FieldFacility], f[checks.FieldSeverity], tag, e.Detail)
		return
	}
	fmt.Fprintf(w, "%s %s %s.%s %s: %s\n", when, e.Device, e.Source, e.Severity, e.Name, e.Detail)
}

func logsStats(ctx context.Context, env *Env, data string, asJSON bool) error {
	var st appliance.LogsStats
	if err := Control(ctx, data, "GET", "/logs/stats", nil, &st); err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(env.Stdout).Encode(st)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	if r := st.Receiver; r != nil {
		fmt.Fprintf(tw, "receiver\tdatagrams %d, connections %d (%d open), lines %d: %d kept (%d cut, %d not syslog, kept as text)\n", r.Datagrams, r.Connections, r.Open, r.Lines, r.Accepted, r.Truncated, r.Raw)
		reasons := make([]string, 0, len(r.Dropped))
		for k := range r.Dropped {
			reasons = append(reasons, k)
		}
		sort.Strings(reasons)
		var parts []string
		for _, k := range reasons {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Dropped[k]))
		}
		fmt.Fprintf(tw, "dropped\t%s\n", strings.Join(parts, ", "))
	} else {
		fmt.Fprintln(tw, "receiver\toff (syslog.udp, syslog.tcp, syslog.tls)")
	}
	if j := st.Journal; j != nil {
		reasons := make([]string, 0, len(j.Dropped))
		for k, v := range j.Dropped {
			reasons = append(reasons, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(reasons)
		fmt.Fprintf(tw, "journal\t%d journalctl runs (%d failed), entries %d: %d kept, dropped: %s\n", j.Runs, j.Failed, j.Entries, j.Kept, strings.Join(reasons, ", "))
		if j.Error != "" {
			fmt.Fprintf(tw, "journal error\t%s\n", j.Error)
		}
	} else {
		fmt.Fprintln(tw, "journal\toff (syslog.journal)")
	}
	s := st.Store
	fmt.Fprintf(tw, "kept\t%d lines of %d devices, %s (bounds: %s per device, %s in all, %d devices, kept %s)\n", s.Lines, s.Devices, size(int64(s.Bytes)),
		size(s.Bounds.DeviceBytes), size(s.Bounds.TotalBytes), s.Bounds.Devices, days(s.Bounds.MaxAge))
	fmt.Fprintf(tw, "removed\t%d lines over the size or device bounds, %d past their age; %d events over the store's pending buffer or trap bounds\n", s.Evicted, s.Expired, st.Dropped)
	return tw.Flush()
}

func size(b int64) string { return checks.Bytes(b).String() }

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// shippedRules prints checks.LogRules: name, sets, what each catches.
func shippedRules(env *Env, asJSON bool) error {
	rules := checks.LogRules()
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		for _, r := range rules {
			if err := enc.Encode(map[string]any{"name": r.Name, "sets": r.Sets, "summary": r.Summary, "format": r.Format}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tSETS\tCATCHES")
	for _, r := range rules {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, strings.Join(r.Sets, ","), r.Summary)
	}
	tw.Flush()
	fmt.Fprintln(env.Stdout, "\nuse one: checks: [{id: ups-power, kind: log_match, target: DEVICE, options: {rule: ups-on-battery-trap}}] (docs/logs.md#shipped-rules)")
	return nil
}
