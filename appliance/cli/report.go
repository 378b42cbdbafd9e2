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
	fs := NewFlags(env, "report", "report [--month 2026-11] [--pdf out.pdf | --json | --email] [--data DIR]")
	month := fs.String("month", "", "the month, as YYYY-MM in the box's time zone (default: the current month, so far)")
	pdf := fs.String("pdf", "", "write the report as a PDF to this file")
	asJSON := fs.Bool("json", false, "print the report's figures as JSON")
	email := fs.Bool("email", false, "mail the report's PDF now, through the site config's report.email channel")
	data := DataDirFlag(fs)
	cfgPath := fs.String("config", "", "with the daemon stopped: the site config to report on (default: the config the box last ran)")
	storeKey := fs.String("store-key", "", "with the daemon stopped: the store key file (as for outpost run)")
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	if n := btoi(*pdf != "") + btoi(*asJSON) + btoi(*email); n > 1 {
		return Usagef("--pdf, --json and --email: choose one")
	}
	if *month != "" {
		if _, _, err := report.MonthOf(*month, time.Local); err != nil {
			return Usagef("--month: %v", err)
		}
	}
	running := Control(ctx, *data, "GET", "/health", nil, nil) == nil
	if *email {
		var ans string
		if running {
			if *cfgPath != "" {
				return Usagef("--config is for a stopped daemon: the running daemon mails with its own config")
			}
			var got struct{ Month, Answer string }
			if err := Control(ctx, *data, "POST", "/report/email?month="+url.QueryEscape(*month), nil, &got); err != nil {
				return err
			}
			ans, *month = got.Answer, got.Month
		} else {
			if *month == "" {
				*month = time.Now().Format("2006-01")
			}
			var err error
			if ans, err = appliance.OfflineMailReport(ctx, *data, *cfgPath, *storeKey, *month, time.Now(), time.Local); err != nil {
				return err
			}
		}
		fmt.Fprintf(env.Stdout, "mailed the %s report: %s\n", *month, ans)
		return nil
	}
	var rep *report.Report
	// The daemon holds the store: ask it when it answers; else read the
	// store in its place.
	if running {
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

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
