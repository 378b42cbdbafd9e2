package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"time"

	"outpost/appliance"
	"outpost/appliance/report"
)

func init() {
	Register(Command{Name: "report", Summary: "the monthly report: uptime against target, incidents, response times, healing, capacity forecasts (text, --json or --pdf)", Run: reportCmd})
}

func reportCmd(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "report", "report [--month 2026-11] [--pdf out.pdf | --json] [--data DIR]")
	month := fs.String("month", "", "the month, as YYYY-MM in the box's time zone (default: the current month, so far)")
	pdf := fs.String("pdf", "", "write the report as a PDF to this file")
	asJSON := fs.Bool("json", false, "print the report's figures as JSON")
	data := DataDirFlag(fs)
	cfgPath := fs.String("config", "", "with the daemon stopped: the site config to report on (default: the config the box last ran)")
	storeKey := fs.String("store-key", "", "with the daemon stopped: the store key file (as for outpost run)")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if *pdf != "" && *asJSON {
		return Usagef("--pdf and --json: choose one")
	}
	if *month != "" {
		if _, _, err := report.MonthOf(*month, time.Local); err != nil {
			return Usagef("--month: %v", err)
		}
	}
	var rep *report.Report
	// The daemon holds the store: ask it when it answers; else read the
	// store in its place.
	if err := Control(ctx, *data, "GET", "/health", nil, nil); err == nil {
		if *cfgPath != "" {
			return Usagef("--config is for a stopped daemon: the running daemon reports on its own config")
		}
		rep = new(report.Report)
		if err := Control(ctx, *data, "GET", "/report?month="+url.QueryEscape(*month), nil, rep); err != nil {
			return fmt.Errorf("asking the daemon for the report: %w", err)
		}
	} else {
		var err error
		if rep, err = appliance.OfflineReport(*data, *cfgPath, *storeKey, *month, time.Now(), time.Local); err != nil {
			return err
		}
	}
	switch {
	case *asJSON:
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case *pdf != "":
		var buf bytes.Buffer
		if err := report.WritePDF(&buf, rep); err != nil {
			return fmt.Errorf("rendering the PDF: %w", err)
		}
		if err := os.WriteFile(*pdf, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "wrote %s (%d bytes): site %s, %s, uptime %s\n", *pdf, buf.Len(), rep.Site, rep.Period, report.Percent(rep.SiteRow.Uptime))
		return nil
	}
	return report.WriteText(env.Stdout, rep)
}
