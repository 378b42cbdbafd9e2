package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"outpost/appliance"
)

func init() {
	Register(Command{Name: "inventory", Summary: "the devices discovery found, and a technician's decisions about them: inventory [list|show|class|rename|label|ignore|unignore|merge|template|apply|changes|subnets|enable|disable|scan] (docs/discovery.md)", Run: inventoryCmd})
}

const inventoryUsage = `usage: outpost inventory [list] [--json|--csv] [--data DIR]
       outpost inventory show DEVICE [--json]
       outpost inventory class DEVICE CLASS        ("" goes back to the sweep's class)
       outpost inventory rename DEVICE NAME        ("" goes back to the device's own name)
       outpost inventory label DEVICE KEY=VALUE... (KEY= removes a label)
       outpost inventory ignore|unignore DEVICE
       outpost inventory merge KEEP DROP           (DROP's record joins KEEP's)
       outpost inventory template DEVICE           (the checks it can answer, from its last sweep)
       outpost inventory apply DEVICE              (turn them on: each run once first, left off if it does not answer)
       outpost inventory changes [--limit N] [--json]
       outpost inventory subnets [--json]
       outpost inventory enable|disable CIDR
       outpost inventory scan CIDR                 (an enabled subnet, now)
DEVICE is a key, a MAC, an address or a name.`

func inventoryCmd(ctx context.Context, env *Env, args []string) error {
	verb := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		verb, args = args[0], args[1:]
	}
	if verb == "help" || len(args) > 0 && isHelp(args[len(args)-1]) {
		return Usagef("%s", inventoryUsage)
	}
	fs := NewFlags(env, "inventory "+verb, "inventory "+verb+" [args] [--data DIR]")
	data := DataDirFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	asCSV := fs.Bool("csv", false, "list: print CSV (the same columns as the UI's export)")
	limit := fs.Int("limit", 50, "changes: at most this many, the newest")
	by := fs.String("by", whoAmI(), "who decides (recorded with the decision)")
	// Positional arguments come before the flags.
	var pos []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = append(pos, args[0]), args[1:]
	}
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	need := func(n int) error {
		if len(pos) != n {
			return Usagef("inventory %s takes %d argument(s), got %d\n%s", verb, n, len(pos), inventoryUsage)
		}
		return nil
	}
	decide := func(req appliance.DecideRequest) error {
		req.By = *by
		var d appliance.InventoryDevice
		if err := Control(ctx, *data, "POST", "/inventory/decide", req, &d); err != nil {
			return err
		}
		return printDevice(env, appliance.InventoryRow{InventoryDevice: d}, *asJSON)
	}
	switch verb {
	case "list":
		if err := need(0); err != nil {
			return err
		}
		var rows []appliance.InventoryRow
		if err := Control(ctx, *data, "GET", "/inventory", nil, &rows); err != nil {
			return err
		}
		switch {
		case *asCSV:
			return appliance.WriteInventoryCSV(env.Stdout, rows)
		case *asJSON:
			return printJSON(env, rows)
		}
		if len(rows) == 0 {
			fmt.Fprintln(env.Stdout, "no devices yet: enable a discovery subnet (outpost inventory subnets)")
			return nil
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tMAC\tNAME\tCLASS\tCONF\tVENDOR\tLAST SEEN\tSTATE\tKEY")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\n", r.IP, dash(r.MAC), r.Label(), classText(r.InventoryDevice), r.Confidence,
				dash(r.Vendor), r.LastSeen.Local().Format("2006-01-02 15:04"), stateText(r.InventoryDevice), r.Key)
		}
		return tw.Flush()
	case "show":
		if err := need(1); err != nil {
			return err
		}
		var d appliance.InventoryDevice
		if err := Control(ctx, *data, "GET", "/inventory/device?ref="+url.QueryEscape(pos[0]), nil, &d); err != nil {
			return err
		}
		return printDevice(env, appliance.InventoryRow{InventoryDevice: d}, *asJSON)
	case "class":
		if err := need(2); err != nil {
			return err
		}
		return decide(appliance.DecideRequest{Ref: pos[0], Class: &pos[1]})
	case "rename":
		if err := need(2); err != nil {
			return err
		}
		return decide(appliance.DecideRequest{Ref: pos[0], Name: &pos[1]})
	case "label":
		if len(pos) < 2 {
			return Usagef("inventory label DEVICE KEY=VALUE...\n%s", inventoryUsage)
		}
		labels := map[string]string{}
		for _, kv := range pos[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return Usagef("inventory label: %q is not KEY=VALUE", kv)
			}
			labels[k] = v
		}
		return decide(appliance.DecideRequest{Ref: pos[0], Labels: labels})
	case "ignore", "unignore":
		if err := need(1); err != nil {
			return err
		}
		yes := verb == "ignore"
		return decide(appliance.DecideRequest{Ref: pos[0], Ignored: &yes})
	case "merge":
		if err := need(2); err != nil {
			return err
		}
		var d appliance.InventoryDevice
		if err := Control(ctx, *data, "POST", "/inventory/merge", appliance.MergeRequest{Keep: pos[0], Drop: pos[1], By: *by}, &d); err != nil {
			return err
		}
		return printDevice(env, appliance.InventoryRow{InventoryDevice: d}, *asJSON)
	case "template", "apply":
		if err := need(1); err != nil {
			return err
		}
		var res appliance.TemplateResult
		var err error
		if verb == "template" {
			err = Control(ctx, *data, "GET", "/inventory/template?ref="+url.QueryEscape(pos[0]), nil, &res)
		} else {
			err = Control(ctx, *data, "POST", "/inventory/template", map[string]string{"ref": pos[0], "by": *by}, &res)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env, res)
		}
		return printTemplates(env, []appliance.TemplateResult{res})
	case "changes":
		if err := need(0); err != nil {
			return err
		}
		var cs []appliance.InventoryChange
		if err := Control(ctx, *data, "GET", "/inventory/changes?limit="+strconv.Itoa(*limit), nil, &cs); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env, cs)
		}
		for _, c := range cs {
			fmt.Fprintf(env.Stdout, "%s  %-11s %s\n", c.Time.Local().Format("2006-01-02 15:04:05"), c.Kind, c.Detail)
		}
		return nil
	case "subnets":
		if err := need(0); err != nil {
			return err
		}
		var ss []appliance.SubnetState
		if err := Control(ctx, *data, "GET", "/discovery/subnets", nil, &ss); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env, ss)
		}
		return printSubnets(env, ss)
	case "enable", "disable":
		if err := need(1); err != nil {
			return err
		}
		var ss []appliance.SubnetState
		if err := Control(ctx, *data, "POST", "/discovery/subnets", appliance.SubnetRequest{CIDR: pos[0], Enabled: verb == "enable", By: *by}, &ss); err != nil {
			return err
		}
		return printSubnets(env, ss)
	case "scan":
		if err := need(1); err != nil {
			return err
		}
		var plan appliance.ScanPlan
		if err := Control(ctx, *data, "POST", "/discovery/scan", map[string]string{"subnet": pos[0]}, &plan); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, "scan queued: "+plan.Text())
		return nil
	}
	return Usagef("inventory: unknown subcommand %q\n%s", verb, inventoryUsage)
}

func classText(d appliance.InventoryDevice) string {
	if d.Decision != nil && d.Decision.Class != "" && d.Decision.Class != d.Class {
		return d.Decision.Class + " (set; sweep: " + d.Class + ")"
	}
	return d.Class
}

func stateText(d appliance.InventoryDevice) string {
	var s []string
	if d.Gone {
		s = append(s, "gone")
	} else {
		s = append(s, "present")
	}
	if d.Decision != nil && d.Decision.Ignored {
		s = append(s, "ignored")
	}
	return strings.Join(s, ",")
}

func printJSON(env *Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printDevice(env *Env, r appliance.InventoryRow, asJSON bool) error {
	if asJSON {
		return printJSON(env, r)
	}
	d := r.InventoryDevice
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "device\t%s\t(key %s)\n", d.Label(), d.Key)
	fmt.Fprintf(tw, "class\t%s\tconfidence %.2f\n", classText(d), d.Confidence)
	if len(d.Evidence) > 0 {
		fmt.Fprintf(tw, "evidence\t%s\n", strings.Join(d.Evidence, "; "))
	}
	fmt.Fprintf(tw, "address\t%s\t%s\n", d.IP, dash(d.MAC))
	fmt.Fprintf(tw, "vendor\t%s\n", dash(d.Vendor))
	if d.SNMP != nil {
		fmt.Fprintf(tw, "snmp\t%s\t%s\n", d.SNMP.Descr, d.SNMP.ObjectID)
	}
	fmt.Fprintf(tw, "seen\t%s .. %s\t%s\n", d.FirstSeen.Local().Format(time.DateTime), d.LastSeen.Local().Format(time.DateTime), stateText(d))
	for _, a := range d.Addresses {
		fmt.Fprintf(tw, "address history\t%s\t%s .. %s\n", a.Value, a.First.Local().Format(time.DateTime), a.Last.Local().Format(time.DateTime))
	}
	for _, m := range d.MACs {
		fmt.Fprintf(tw, "MAC history\t%s\t%s .. %s\n", m.Value, m.First.Local().Format(time.DateTime), m.Last.Local().Format(time.DateTime))
	}
	if len(d.Merged) > 0 {
		fmt.Fprintf(tw, "merged\t%s\n", strings.Join(d.Merged, ", "))
	}
	if dec := d.Decision; dec != nil {
		var ls []string
		for k, v := range dec.Labels {
			ls = append(ls, k+"="+v)
		}
		fmt.Fprintf(tw, "decided\tby %s at %s\t%s\n", dash(dec.By), dec.At.Local().Format(time.DateTime), strings.Join(ls, " "))
	}
	return tw.Flush()
}

func printSubnets(env *Env, ss []appliance.SubnetState) error {
	if len(ss) == 0 {
		fmt.Fprintln(env.Stdout, "no subnets configured or connected")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBNET\tSTATE\tLAST SWEEP\tA SWEEP TAKES")
	for _, s := range ss {
		state := "suggested (connected), off"
		switch {
		case s.Enabled:
			state = "enabled"
		case s.Configured:
			state = "listed, off"
		}
		if !s.Running.IsZero() {
			state += ", sweeping"
		} else if s.Queued {
			state += ", queued"
		}
		last := "never"
		if !s.LastSweep.IsZero() {
			last = s.LastSweep.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.CIDR, state, last, s.Plan.Text())
	}
	return tw.Flush()
}
