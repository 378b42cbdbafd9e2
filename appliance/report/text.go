package report

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteText prints the report's figures as plain text (what `outpost
// report` shows without --pdf or --json).
func WriteText(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "Site %s, %s (%s to %s)", r.Site, r.Period, r.From.Format("2006-01-02"), r.To.Format("2006-01-02"))
	if r.Partial {
		fmt.Fprintf(w, ", running")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Site uptime %s, target %s %%\n", Percent(r.SiteRow.Uptime), trimPct(r.Target))
	h := r.Healing
	fmt.Fprintf(w, "Incidents %d: %d self-healed, %d recovered, %d technician, %d open, %d in maintenance\n\n", h.Total, h.SelfHealed, h.Recovered, h.Technician, h.Open, h.Maintenance)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCOPE\tNAME\tUPTIME\tTARGET\tDOWN\tOUTAGES\tMAINTENANCE")
	for _, rows := range [][]Row{r.Groups, r.Devices, r.Checks} {
		for _, x := range rows {
			mark := ""
			if !x.Met {
				mark = "  below target"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s%s\n", x.Scope, x.Name, Percent(x.Uptime), trimPct(x.Target), fmtDur(x.Uptime.Down), x.Uptime.Outages, fmtDur(x.Uptime.Maintenance), mark)
		}
	}
	tw.Flush()
	if len(r.Response) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tINCIDENTS\tACK MEAN\tACK MEDIAN\tACK P90\tRESOLVE MEAN\tRESOLVE MEDIAN\tRESOLVE P90")
		for _, x := range r.Response {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Severity, x.Count, st(x.Ack, x.Ack.Mean), st(x.Ack, x.Ack.Median), st(x.Ack, x.Ack.P90), st(x.Resolve, x.Resolve.Mean), st(x.Resolve, x.Resolve.Median), st(x.Resolve, x.Resolve.P90))
		}
		tw.Flush()
	}
	if len(r.Forecasts) > 0 {
		fmt.Fprintln(w, "\nCapacity:")
		for _, f := range r.Forecasts {
			fmt.Fprintf(w, "  %s\n", f.Sentence(r.Horizon))
		}
	}
	return nil
}
