package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"outpost/appliance"
	"outpost/checks/agent"
)

// agentUpdate is `outpost agent update --bundle FILE (--all | NAME...)`:
// the daemon sends the bundle to each agent in turn and waits for it to
// answer as the new version; the first failure stops it.
func agentUpdate(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "agent update", "agent update --bundle FILE (--all | NAME...) [--wait 3m] [--data DIR]")
	data := DataDirFlag(fs)
	file := fs.String("bundle", "", "the firmware bundle (outpost bundle firmware) for the agents' OS and architecture")
	all := fs.Bool("all", false, "every agent paired with this box (those of another OS or architecture are skipped)")
	wait := fs.Duration("wait", appliance.DefaultAgentUpdateWait, "how long each agent has to answer as the new version before the rollout stops")
	if err := Parse(fs, reorder(args), true); err != nil {
		return err
	}
	names := fs.Args()
	switch {
	case *file == "":
		return Usagef("--bundle FILE is required (made with outpost bundle firmware)")
	case *all && len(names) > 0:
		return Usagef("give agent names or --all, not both")
	case !*all && len(names) == 0:
		return Usagef("which agents? give their names or --all")
	case *wait <= 0 || *wait > time.Hour:
		return Usagef("--wait %s: give a duration up to 1h", *wait)
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return err
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", *file)
	}
	q := url.Values{"name": names, "wait": {wait.String()}}
	if *all {
		q.Set("all", "1")
	}
	var ans appliance.AgentUpdateAnswer
	// Each agent may take the bundle's transfer and the wait: the daemon
	// bounds both, the exchange as a whole is bounded loosely.
	if err := controlDo(ctx, *data, "POST", "/agents/update?"+q.Encode(), "application/octet-stream", f, 24*time.Hour, &ans); err != nil {
		return fmt.Errorf("agent update: %w", err)
	}
	abs, _ := filepath.Abs(*file)
	fmt.Fprintf(env.Stdout, "outpost %s for %s/%s (%s), one agent at a time:\n", ans.Version, ans.OS, ans.Arch, abs)
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tRESULT\tFROM\tTO\tTOOK\tDETAIL")
	bad := 0
	for _, o := range ans.Outcomes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.Agent, o.Result, dash(o.From), dash(o.To), dash(o.Took), o.Detail)
		if o.Result == agent.UpdateRefused || o.Result == agent.UpdateFailed {
			bad++
		}
	}
	tw.Flush()
	if bad > 0 {
		return fmt.Errorf("agent update stopped: %d agent(s) refused or failed (see above)", bad)
	}
	return nil
}
