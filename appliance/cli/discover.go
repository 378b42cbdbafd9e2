package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"outpost/appliance"
	"outpost/checks/discovery"
)

func init() {
	Register(Command{Name: "discover", Summary: "sweep a subnet for devices at a packet-rate ceiling, classify them, suggest checks (docs/discovery.md)", Run: runDiscover})
}

func runDiscover(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "discover", "discover --subnet CIDR [--rate N] [--ports LIST] [--community c] [--json | --suggest] [flags]")
	subnet := fs.String("subnet", "", "IPv4 subnet to sweep, e.g. 192.0.2.0/24 (at most a /16)")
	rate := fs.Int("rate", discovery.DefaultRate, "ceiling in probes per second")
	ports := fs.String("ports", "", "TCP ports tried on live hosts, comma-separated (default 22,80,443,445,3389,9100,631)")
	timeout := fs.Duration("timeout", discovery.DefaultTimeout, "how long one probe waits for an answer")
	var f snmpFlags
	fs.StringVar(&f.version, "snmp-version", "", "SNMP version: 1, 2c or 3 (default 2c, or 3 when --user is set)")
	fs.StringVar(&f.community, "community", "", "SNMP v1/v2c community; without it (or --user) no SNMP is sent")
	f.addV3(fs, "SNMPv3 user")
	fs.StringVar(&f.context, "context", "", "SNMPv3 context name")
	noDNS := fs.Bool("no-dns", false, "skip reverse DNS")
	noMDNS := fs.Bool("no-mdns", false, "skip the mDNS service enumeration (one query to 224.0.0.251 on the subnet's link)")
	noIPv6 := fs.Bool("no-ipv6", false, "skip looking for the hosts' IPv6 addresses (an echo to all nodes on the subnet's link, then the NDP table)")
	asJSON := fs.Bool("json", false, "print JSON (fields in docs/discovery.md)")
	suggest := fs.Bool("suggest", false, "print devices: and checks: YAML for what answered")
	apply := fs.Bool("apply", false, "hand the sweep to the running daemon: it records it in the inventory and turns on each host's check template (each check run once first; one that does not answer is left off)")
	data := DataDirFlag(fs)
	by := fs.String("by", whoAmI(), "--apply: who applies (recorded with the config version)")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *subnet == "" {
		return Usagef("--subnet is required")
	}
	if *apply && (*asJSON || *suggest) {
		return Usagef("--apply prints what it turned on: not with --json or --suggest")
	}
	if *rate < 1 {
		return Usagef("--rate %d: the ceiling is 1 to %d probes/s", *rate, discovery.MaxRate)
	}
	p, err := netip.ParsePrefix(*subnet)
	if err != nil {
		return Usagef("--subnet %q is not a CIDR subnet (e.g. 192.0.2.0/24)", *subnet)
	}
	o := discovery.Options{Subnet: p.Masked(), Rate: *rate, Timeout: *timeout, ReverseDNS: !*noDNS, NoIPv6: *noIPv6, NoMDNS: *noMDNS}
	if *ports != "" {
		o.Ports = []int{}
		for _, s := range strings.Split(*ports, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return Usagef("--ports: %q is not a port number", s)
			}
			o.Ports = append(o.Ports, n)
		}
	}
	if f.community != "" || f.user != "" {
		t, err := snmpTarget(p.Addr().String(), f)
		if err != nil {
			return Usagef("%v", err)
		}
		if err := t.Validate(); err != nil {
			return Usagef("%v", err)
		}
		s := t.SNMP
		o.SNMP = &s
	}
	if o, err = o.WithDefaults(); err != nil {
		return Usagef("%v", err)
	}
	fmt.Fprintf(env.Stderr, "Sweeping %s: %d addresses at %d probes/s: about %s, plus %s per live host (%d probes each)\n",
		o.Subnet, discovery.Addresses(o.Subnet), o.Rate, o.Estimate(0).Round(100*time.Millisecond),
		(time.Duration(o.ProbesPerHost()) * time.Second / time.Duration(o.Rate)).Round(10*time.Millisecond), o.ProbesPerHost())
	res, err := discovery.Sweep(ctx, o)
	if err != nil {
		return err
	}
	switch {
	case *apply:
		writeSweep(env, res)
		var results []appliance.TemplateResult
		if err := Control(ctx, *data, "POST", "/discovery/apply", appliance.SweepApplyRequest{Subnet: res.Subnet.String(), Hosts: res.Hosts, By: *by}, &results); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout)
		return printTemplates(env, results)
	case *asJSON:
		e := json.NewEncoder(env.Stdout)
		e.SetIndent("", "  ")
		return e.Encode(res)
	case *suggest:
		b, err := discovery.SuggestYAML(discovery.Suggest(res.Hosts, o.SNMP))
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "# outpost discover --suggest %s, %s: %d hosts. Review, then paste what you keep.\n",
			res.Subnet, res.Started.UTC().Format(time.RFC3339), len(res.Hosts))
		_, err = env.Stdout.Write(b)
		return err
	}
	writeSweep(env, res)
	return nil
}

func writeSweep(env *Env, res *discovery.Result) {
	fmt.Fprintf(env.Stdout, "%s: %d hosts up of %d addresses, %d probes in %s (%d/s ceiling)\n",
		res.Subnet, len(res.Hosts), res.Addresses, res.Probes, res.Took.Round(10*time.Millisecond), res.Rate)
	for _, n := range res.Notes {
		fmt.Fprintf(env.Stdout, "note: %s\n", n)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nADDRESS\tMAC\tVENDOR\tNAME\tPORTS\tCLASS\tCONF\tEVIDENCE")
	for _, h := range res.Hosts {
		name := ""
		if len(h.Names) > 0 {
			name = h.Names[0]
		} else if h.SNMP != nil {
			name = h.SNMP.Name
		}
		var ps []string
		for _, p := range h.OpenPorts {
			ps = append(ps, strconv.Itoa(p))
		}
		if h.SNMP != nil {
			ps = append(ps, "161/udp")
		}
		mac := h.MAC
		if h.Self {
			mac = "(this box)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\n", h.IP, mac, short(h.Vendor, 24), name, strings.Join(ps, ","),
			h.Class, h.Confidence, strings.Join(h.Evidence, "; "))
	}
	tw.Flush()
	for _, h := range res.Hosts {
		for _, w := range h.Web {
			if w.Title != "" || len(w.CertNames) > 0 {
				fmt.Fprintf(env.Stdout, "%s:%d %s %d %q certificate %s\n", h.IP, w.Port, w.Scheme, w.Status, w.Title, strings.Join(w.CertNames, ","))
			}
		}
		if h.SNMP != nil {
			fmt.Fprintf(env.Stdout, "%s snmp: %s (%s) %s\n", h.IP, h.SNMP.Name, h.SNMP.ObjectID, short(h.SNMP.Descr, 80))
		}
		if m := h.MDNS; m != nil && (m.Name != "" || len(m.Services) > 0) {
			fmt.Fprintf(env.Stdout, "%s mdns: %s %s\n", h.IP, m.Name, strings.Join(m.Services, " "))
		}
		if len(h.IPv6) > 0 {
			var as []string
			for _, a := range h.IPv6 {
				as = append(as, a.String())
			}
			fmt.Fprintf(env.Stdout, "%s ipv6: %s\n", h.IP, strings.Join(as, " "))
		}
	}
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// printTemplates says, per device, which checks its template turned on
// and why the others are off.
func printTemplates(env *Env, rs []appliance.TemplateResult) error {
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tADDRESS\tCHECK\tKIND\tTARGET\tTRIAL\tRESULT")
	for _, r := range rs {
		if len(r.Checks) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\tno check it can answer\n", dash(r.Device), r.IP)
		}
		for _, c := range r.Checks {
			result := "added"
			if !c.Added {
				result = "off"
				if c.Reason != "" {
					result += ": " + c.Reason
				}
			}
			trial := dash(c.Status)
			if c.Detail != "" {
				trial += " (" + short(c.Detail, 60) + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Device, r.IP, c.ID, c.Kind, c.Target, trial, result)
		}
	}
	return tw.Flush()
}
