package appliance

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"outpost/checks"
	"outpost/checks/backup"
	"outpost/ui"
)

// The Logs and Backups pages read what `outpost logs` and `outpost
// backups` read: the same search (parseLogSearch, searchLogs) and the
// same job reports.

var (
	_ ui.LogsBackend    = uiBackend{}
	_ ui.BackupsBackend = uiBackend{}
)

// SearchLogs runs the page's search through the control socket's rules:
// a filter that does not parse is the user's (EINVALID).
func (b uiBackend) SearchLogs(ctx context.Context, q ui.LogQuery) (ui.LogResults, error) {
	v := url.Values{}
	for k, x := range map[string]string{"device": q.Device, "severity": q.Severity, "grep": q.Grep, "source": q.Source, "since": q.Since} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	if q.Skip > 0 {
		v.Set("skip", strconv.Itoa(q.Skip))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	s, err := parseLogSearch(v, b.a.o.Clock.Now())
	if err != nil {
		return ui.LogResults{}, ui.Errorf(ui.EINVALID, "%s", err.Error())
	}
	ans, err := b.a.searchLogs(ctx, s)
	if err != nil {
		return ui.LogResults{}, err
	}
	return ui.LogResults{Events: ans.Events, More: ans.More, Partial: ans.Partial, Scanned: ans.Scanned}, nil
}

// LogDevices are the configured devices' names.
func (b uiBackend) LogDevices() []string {
	var out []string
	for _, d := range b.a.Config().Devices {
		out = append(out, d.Name)
	}
	return out
}

// Backups are the backup jobs' reports in words.
func (b uiBackend) Backups(runs int) ([]ui.BackupView, error) {
	reports, err := b.a.BackupReports(runs)
	if err != nil {
		return nil, err
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	}
	out := make([]ui.BackupView, 0, len(reports))
	for _, r := range reports {
		v := ui.BackupView{Check: r.Check, Status: r.Status.String(), Detail: r.Detail, Schedule: r.Schedule, Grace: backup.ShortDuration(r.Grace),
			MaxDuration: backup.ShortDuration(r.MaxDuration), URL: r.URL, Watched: when(r.Watched), LastSuccess: when(r.LastSuccess)}
		if !r.LastFailure.IsZero() {
			v.LastFailure = when(r.LastFailure)
		}
		for _, run := range r.Runs {
			rv := ui.BackupRunView{Result: run.Result, Source: run.Source, Output: run.Output, OutputBytes: run.BodyBytes}
			if !run.Started.IsZero() {
				rv.Started = when(run.Started)
			}
			if !run.Finished.IsZero() {
				rv.Finished = when(run.Finished)
			}
			if run.Duration > 0 {
				rv.Duration = backup.ShortDuration(run.Duration)
			}
			if run.Exit != nil {
				rv.Exit = strconv.Itoa(*run.Exit)
			}
			v.Runs = append(v.Runs, rv)
		}
		out = append(out, v)
	}
	return out, nil
}

// ShippedRules are checks.LogRules in words.
func (b uiBackend) ShippedRules() []ui.ShippedRule {
	var out []ui.ShippedRule
	for _, r := range checks.LogRules() {
		// A copy of the rule's options, in block style.
		var n yaml.Node
		flow, _ := yaml.Marshal(&r.Options)
		yaml.Unmarshal(flow, &n)
		blockStyle(&n)
		opts, _ := yaml.Marshal(&n)
		out = append(out, ui.ShippedRule{Name: r.Name, Summary: r.Summary, Format: r.Format, Sets: r.Sets, Options: strings.TrimSpace(string(opts))})
	}
	return out
}

// blockStyle makes a node print in block style, one option a line
// (lists stay on theirs).
func blockStyle(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.DocumentNode {
		n.Style = 0
		for _, c := range n.Content {
			blockStyle(c)
		}
	}
}
