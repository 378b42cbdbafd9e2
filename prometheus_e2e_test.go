//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// promQuery asks a Prometheus server for an instant query and returns
// the value of each series by its `check` label ("" for a series
// without one), or what went wrong.
func promQuery(base, q string) (map[string]string, string) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err.Error()
	}
	defer resp.Body.Close()
	var out struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err.Error()
	}
	m := map[string]string{}
	for _, r := range out.Data.Result {
		m[r.Metric["check"]] = fmt.Sprint(r.Value[1])
	}
	return m, ""
}

// TestPrometheusScrapesTheBox: a real Prometheus (Debian's prometheus)
// scrapes the real daemon's /metrics and answers PromQL over what it
// got: per-check series labelled check, kind, device, group (up, status,
// latency), the scheduler's lateness histogram, the store's counters,
// and the process and Go runtime collectors.
func TestPrometheusScrapesTheBox(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prometheus is not installed (make test installs Debian's prometheus)")
		}
		t.Skip("prometheus is not installed (apt-get install prometheus)")
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	status, promAddr := freePort(t), freePort(t)
	cfg := writeConfig(t, fmt.Sprintf("site: Acme\nlisten: %s\nchecks:\n  - {id: web, kind: http, target: %q, interval: 1s, labels: {device: web01, group: servers}}\n  - {id: dead, kind: tcp, target: '127.0.0.1:1', interval: 1s}\n", status, up.URL))
	box := exec.Command(binPath, "run", "--config", cfg, "--data", t.TempDir(), "--ui-listen", "127.0.0.1:0")
	if err := box.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { box.Process.Kill(); box.Wait() }()

	dir := t.TempDir()
	pcfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(pcfg, []byte(fmt.Sprintf("global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n  - job_name: outpost\n    static_configs: [{targets: ['%s']}]\n", status)), 0o644)
	p := exec.Command(prom, "--config.file="+pcfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+promAddr)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { p.Process.Kill(); p.Wait() }()
	base := "http://" + promAddr

	expect := func(q string, want map[string]string) {
		t.Helper()
		waitFor(t, "Prometheus to answer "+q, patience, func() string {
			got, problem := promQuery(base, q)
			if problem != "" {
				return problem
			}
			if len(got) == 0 {
				return "no series yet"
			}
			for k, v := range want {
				if got[k] != v {
					return fmt.Sprintf("got %v, want %v", got, want)
				}
			}
			return ""
		})
	}
	expect(`outpost_check_up{kind="http",device="web01",group="servers"}`, map[string]string{"web": "1"})
	expect(`outpost_check_up`, map[string]string{"web": "1", "dead": "0"})
	expect(`outpost_check_status{check="dead"}`, map[string]string{"dead": "2"})
	expect(`outpost_check_latency_seconds{check="web"} > 0`, nil)
	for _, q := range []string{`count(outpost_scheduler_lateness_seconds_bucket) > 5`, `outpost_scheduler_lateness_seconds_count > 0`,
		`outpost_store_results_written_total > 0`, `process_resident_memory_bytes{job="outpost"} > 1e6`, `go_goroutines{job="outpost"} > 5`, `process_open_fds{job="outpost"} > 3`} {
		expect(q, nil)
	}
}
