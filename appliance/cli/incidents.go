package cli

import (
	"context"
	"fmt"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"outpost/appliance/incidents"
	"outpost/healing"
)

func init() {
	Register(Command{Name: "incidents", Summary: "list incidents (--open for open ones only)", Run: incidentsCmd})
	Register(Command{Name: "incident", Summary: "show, ack, note or resolve one incident: incident show|ack|note|resolve ID", Run: incidentCmd})
	Register(Command{Name: "heal", Summary: "run a check's remediation now, audited: heal CHECK [--action N]", Run: healCmd})
}

func whoAmI() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "cli"
}

func incidentsCmd(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "incidents", "incidents [--open] [--limit N] [--data DIR]")
	data := DataDirFlag(fs)
	open := fs.Bool("open", false, "only open incidents")
	limit := fs.Int("limit", 50, "at most this many")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	q := "/incidents?limit=" + strconv.Itoa(*limit)
	if *open {
		q += "&open=1"
	}
	var list []incidents.Incident
	if err := Control(ctx, *data, "GET", q, nil, &list); err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(env.Stdout, "no incidents")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSEVERITY\tCHECK\tDEVICE\tOPENED\tAGE\tSUMMARY")
	for _, inc := range list {
		state := string(inc.State)
		if inc.Resolution != "" {
			state += " (" + inc.Resolution + ")"
		}
		if inc.Flapping {
			state += ", flapping"
		}
		if inc.InMaintenance {
			state += ", maintenance"
		}
		end := time.Now()
		if inc.Resolved != nil {
			end = *inc.Resolved
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", inc.ID, state, inc.Severity, inc.Check, inc.Device, inc.Opened.Format("2006-01-02 15:04"), end.Sub(inc.Opened).Round(time.Second), inc.Summary)
	}
	return tw.Flush()
}

func incidentCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) < 2 || isHelp(args[len(args)-1]) {
		return Usagef("usage: outpost incident show|ack|note|resolve ID [--by NAME] [--note TEXT] [--data DIR]")
	}
	verb, idArg := args[0], args[1]
	fs := NewFlags(env, "incident "+verb, "incident "+verb+" ID [--by NAME] [--note TEXT] [--data DIR]")
	data := DataDirFlag(fs)
	by := fs.String("by", whoAmI(), "who does it (for the timeline)")
	note := fs.String("note", "", "text for the timeline")
	if err := Parse(fs, args[2:], false); err != nil {
		return err
	}
	if _, err := strconv.ParseUint(idArg, 10, 64); err != nil {
		return Usagef("%q is not an incident number", idArg)
	}
	var inc incidents.Incident
	var err error
	switch verb {
	case "show":
		err = Control(ctx, *data, "GET", "/incidents/"+idArg, nil, &inc)
	case "ack", "note", "resolve":
		if verb == "note" && *note == "" {
			return Usagef("incident note needs --note TEXT")
		}
		err = Control(ctx, *data, "POST", "/incidents/"+idArg+"/"+verb, map[string]string{"by": *by, "note": *note}, &inc)
	default:
		return Usagef("unknown action %q (show, ack, note, resolve)", verb)
	}
	if err != nil {
		return err
	}
	PrintIncident(env, inc)
	return nil
}

// PrintIncident writes an incident with its timeline.
func PrintIncident(env *Env, inc incidents.Incident) {
	fmt.Fprintf(env.Stdout, "incident %d: %s %s on %s (%s), %s\n", inc.ID, inc.Check, inc.Status, inc.Device, inc.Severity, inc.State)
	if inc.Resolution != "" {
		fmt.Fprintf(env.Stdout, "resolution: %s\n", inc.Resolution)
	}
	if len(inc.Children) > 0 {
		fmt.Fprintf(env.Stdout, "unreachable behind it: %s\n", strings.Join(inc.Children, ", "))
	}
	for _, ev := range inc.Timeline {
		by := ""
		if ev.By != "" {
			by = " [" + ev.By + "]"
		}
		fmt.Fprintf(env.Stdout, "  %s  %-12s%s %s\n", ev.Time.Format("2006-01-02 15:04:05"), ev.Kind, by, ev.Text)
		if ev.Output != "" {
			for _, l := range strings.Split(strings.TrimRight(ev.Output, "\n"), "\n") {
				fmt.Fprintf(env.Stdout, "      | %s\n", l)
			}
		}
	}
}

func healCmd(ctx context.Context, env *Env, args []string) error {
	if len(args) < 1 || strings.HasPrefix(args[0], "-") {
		return Usagef("usage: outpost heal CHECK [--action N] [--by NAME] [--data DIR]")
	}
	check := args[0]
	fs := NewFlags(env, "heal", "heal CHECK [--action N] [--by NAME] [--data DIR]")
	data := DataDirFlag(fs)
	action := fs.Int("action", 0, "which remediation (1 = first); 0 runs them all in order")
	by := fs.String("by", whoAmI(), "who runs it (for the audit)")
	if err := Parse(fs, args[1:], false); err != nil {
		return err
	}
	var out []healing.AuditEntry
	if err := Control(ctx, *data, "POST", "/heal/"+check, map[string]any{"by": *by, "action": *action}, &out); err != nil {
		return err
	}
	failed := 0
	for _, e := range out {
		res := "ok"
		if !e.OK {
			res, failed = "FAILED: "+e.Error, failed+1
		}
		fmt.Fprintf(env.Stdout, "%s (%s): %s in %s\n", e.Action, e.Target, res, e.Duration.Round(time.Millisecond))
		if strings.TrimSpace(e.Output) != "" {
			fmt.Fprintf(env.Stdout, "  %s\n", strings.ReplaceAll(strings.TrimSpace(e.Output), "\n", "\n  "))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d actions failed", failed, len(out))
	}
	return nil
}

func init() {
	Register(Command{Name: "audit", Summary: "show the healing audit trail (who ran what, when, with what output)", Run: auditCmd})
}

func auditCmd(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "audit", "audit [--limit N] [--data DIR]")
	data := DataDirFlag(fs)
	limit := fs.Int("limit", 50, "at most this many entries")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	var out []healing.AuditEntry
	if err := Control(ctx, *data, "GET", "/audit?limit="+strconv.Itoa(*limit), nil, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tWHO\tCHECK\tINCIDENT\tACTION\tRESULT\tTOOK")
	for _, e := range out {
		res := "ok"
		if !e.OK {
			res = "failed: " + e.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.Time.Format("2006-01-02 15:04:05"), e.Who, e.Check, e.Incident, e.Action, res, e.Duration.Round(time.Millisecond))
	}
	return tw.Flush()
}
