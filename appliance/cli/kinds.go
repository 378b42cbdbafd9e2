package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"outpost/checks"
	"outpost/healing"
	"outpost/notify"
)

// printKinds writes what this build knows, from the registries config
// validation reads: the check kinds (whether each needs a target, and its
// summary), the notification channel kinds and the healing action kinds
// (with their summaries), each section sorted by name.
func printKinds(w io.Writer) error {
	type row struct{ name, target, summary string }
	section := func(title, header string, rows []row) error {
		fmt.Fprintf(w, "%s:\n", title)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  %s\n", header)
		for _, r := range rows {
			if r.target != "" {
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.name, r.target, r.summary)
			} else {
				fmt.Fprintf(tw, "  %s\t%s\n", r.name, r.summary)
			}
		}
		return tw.Flush()
	}
	var rows []row
	for _, k := range checks.Kinds() {
		target := "none"
		if k.NeedsTarget {
			target = "required"
		}
		rows = append(rows, row{k.Name, target, k.Summary})
	}
	if err := section("Check kinds (checks[].kind)", "KIND\tTARGET\tWHAT IT CHECKS", rows); err != nil {
		return err
	}
	rows = nil
	for _, k := range notify.Kinds() {
		rows = append(rows, row{name: k.Name, summary: k.Summary})
	}
	fmt.Fprintln(w)
	if err := section("Notification channel kinds (notify.channels[].kind)", "CHANNEL\tWHAT IT SENDS", rows); err != nil {
		return err
	}
	rows = nil
	for _, k := range healing.Kinds() {
		rows = append(rows, row{name: k.Name, summary: k.Summary})
	}
	fmt.Fprintln(w)
	return section("Healing action kinds (checks[].remediations[].action)", "ACTION\tWHAT IT DOES", rows)
}
