package cli_test

import (
	"bytes"
	"context"
	"regexp"
	"sort"
	"strings"
	"testing"

	"outpost/appliance/cli"
	"outpost/checks"
	"outpost/healing"
	"outpost/notify"
)

// kindSections splits `outpost check --kinds` output into its sections
// (by heading) and the names listed in each, in order.
func kindSections(t *testing.T, out string) map[string][]string {
	t.Helper()
	sections := map[string][]string{}
	var cur string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case line == "":
		case !strings.HasPrefix(line, "  "):
			cur = strings.TrimSuffix(line, ":")
			sections[cur] = nil
		case strings.HasPrefix(line, "  KIND ") || strings.HasPrefix(line, "  CHANNEL ") || strings.HasPrefix(line, "  ACTION "):
		default:
			sections[cur] = append(sections[cur], strings.Fields(line)[0])
		}
	}
	return sections
}

func TestCheckKinds(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := cli.Run(context.Background(), &cli.Env{Stdout: &out, Stderr: &errOut}, []string{"check", "--kinds"}); code != 0 {
		t.Fatalf("check --kinds: exit %d: %s", code, errOut.String())
	}
	s := out.String()
	sections := kindSections(t, s)

	t.Run("check kinds", func(t *testing.T) {
		var want []string
		for _, k := range checks.Kinds() {
			want = append(want, k.Name)
			target := "none"
			if k.NeedsTarget {
				target = "required"
			}
			line := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(k.Name) + ` +` + target + ` +` + regexp.QuoteMeta(k.Summary) + `$`)
			if k.Summary == "" || !line.MatchString(s) {
				t.Errorf("no line %q / %s / %q in:\n%s", k.Name, target, k.Summary, s)
			}
		}
		got := sections["Check kinds (checks[].kind)"]
		if len(want) < 10 || strings.Join(got, " ") != strings.Join(want, " ") || !sort.StringsAreSorted(got) {
			t.Errorf("check kinds listed %q, registered %q", got, want)
		}
	})
	// summarised checks that each name has its one summary line.
	summarised := func(t *testing.T, title string, names, summaries []string) {
		t.Helper()
		for i, n := range names {
			line := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(n) + ` +` + regexp.QuoteMeta(summaries[i]) + `$`)
			if summaries[i] == "" || !line.MatchString(s) {
				t.Errorf("no line %q / %q in:\n%s", n, summaries[i], s)
			}
		}
		got := sections[title]
		if len(names) == 0 || strings.Join(got, " ") != strings.Join(names, " ") || !sort.StringsAreSorted(got) {
			t.Errorf("%s: listed %q, registered %q", title, got, names)
		}
	}
	t.Run("channel kinds", func(t *testing.T) {
		var names, summaries []string
		for _, k := range notify.Kinds() {
			names, summaries = append(names, k.Name), append(summaries, k.Summary)
		}
		summarised(t, "Notification channel kinds (notify.channels[].kind)", names, summaries)
	})
	t.Run("healing actions", func(t *testing.T) {
		var names, summaries []string
		for _, k := range healing.Kinds() {
			names, summaries = append(names, k.Name), append(summaries, k.Summary)
		}
		summarised(t, "Healing action kinds (checks[].remediations[].action)", names, summaries)
	})
	t.Run("no config with it", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := cli.Run(context.Background(), &cli.Env{Stdout: &out, Stderr: &errOut}, []string{"check", "--kinds", "--config", "site.yaml"})
		if code != 2 || !strings.Contains(errOut.String(), "--kinds lists what this build knows") || out.Len() != 0 {
			t.Errorf("--kinds --config: exit %d, %q %q", code, out.String(), errOut.String())
		}
	})
}
