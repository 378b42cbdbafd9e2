//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// soakSample is one look at a running daemon from outside.
type soakSample struct {
	at         time.Duration // since the daemon started
	anonMB     float64       // anonymous resident memory (RssAnon)
	goroutines float64
	fds        float64
	storeMB    float64
	p99ms      float64 // scheduler lateness p99 since the previous sample
}

// soakDuration is how long TestSoak runs: 20 s in `make test`, and
// OUTPOST_SOAK (e.g. 1h, 168h) in `make soak`.
func soakDuration(t *testing.T) time.Duration {
	if s := os.Getenv("OUTPOST_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 10*time.Second {
			t.Fatalf("OUTPOST_SOAK=%q is not a duration of at least 10s", s)
		}
		return d
	}
	return 20 * time.Second
}

// TestSoak runs the real daemon with 450 checks (HTTP and TCP targets,
// some failing so incidents and notifications come and go) and samples
// it from outside: anonymous RSS, goroutines and open files (the process
// collector in /metrics and /proc), store size and scheduler lateness
// p99. After warm-up (the first quarter) memory, goroutines and files
// must stay flat: a leak of one per check run, per request or per
// incident shows within the short run of `make test`. `make soak`
// runs it for DURATION and draws the samples in docs/soak.svg.
func TestSoak(t *testing.T) {
	dur := soakDuration(t)
	every := max(time.Second, min(time.Minute, dur/60))

	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer web.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	go acceptAndClose(tcp)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer hook.Close()

	status := freePort(t)
	var b strings.Builder
	fmt.Fprintf(&b, "site: Soak\nlisten: %s\nnotify:\n  channels: [{name: hook, kind: webhook, options: {url: %q}}]\n", status, hook.URL)
	b.WriteString("  policies: [{name: all, repeat: 1m, steps: [{after: 0s, channels: [hook]}]}]\nchecks:\n")
	for i := range 300 {
		fmt.Fprintf(&b, "  - {id: web%03d, kind: http, target: %q, interval: 5s}\n", i, web.URL+"/"+strconv.Itoa(i))
	}
	for i := range 100 {
		fmt.Fprintf(&b, "  - {id: tcp%03d, kind: tcp, target: %q, interval: 5s}\n", i, tcp.Addr().String())
	}
	for i := range 50 {
		fmt.Fprintf(&b, "  - {id: down%02d, kind: tcp, target: '127.0.0.1:1', interval: 5s, confirm: 1}\n", i)
	}
	cfg := writeConfig(t, b.String())
	cmd := exec.Command(binPath, "run", "--config", cfg, "--data", t.TempDir(), "--ui-listen", "127.0.0.1:0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	waitFor(t, "the status endpoint", patience, func() string {
		if s := get("http://" + status + "/healthz"); s != "200 OK" {
			return s
		}
		return ""
	})

	var samples []soakSample
	var prevBuckets map[float64]float64
	for time.Since(started) < dur {
		time.Sleep(every)
		m := scrape(t, status)
		buckets := map[float64]float64{}
		for k, v := range m {
			if le, ok := strings.CutPrefix(k, `outpost_scheduler_lateness_seconds_bucket{le="`); ok {
				f, _ := strconv.ParseFloat(strings.TrimSuffix(le, `"}`), 64)
				if strings.HasPrefix(le, "+Inf") {
					f = math.Inf(1)
				}
				buckets[f] = v
			}
		}
		samples = append(samples, soakSample{
			at: time.Since(started), anonMB: rssAnon(t, cmd.Process.Pid) / 1e6,
			goroutines: m["go_goroutines"], fds: m["process_open_fds"],
			storeMB: m["outpost_store_size_bytes"] / 1e6, p99ms: p99(prevBuckets, buckets) * 1000,
		})
		prevBuckets = buckets
	}
	if len(samples) < 8 {
		t.Fatalf("only %d samples", len(samples))
	}
	for _, s := range samples {
		t.Logf("%6.0fs  anon %6.1f MB  goroutines %4.0f  fds %3.0f  store %6.2f MB  lateness p99 %6.1f ms", s.at.Seconds(), s.anonMB, s.goroutines, s.fds, s.storeMB, s.p99ms)
	}
	if out := os.Getenv("OUTPOST_SOAK_SVG"); out != "" {
		if err := os.WriteFile(out, soakSVG(samples, dur), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Flat after warm-up: the rest of the run stays near where the
	// first quarter ended.
	warm := samples[len(samples)/4]
	var maxAnon, maxG, maxFD float64
	for _, s := range samples[len(samples)/4:] {
		maxAnon, maxG, maxFD = max(maxAnon, s.anonMB), max(maxG, s.goroutines), max(maxFD, s.fds)
	}
	if maxAnon > warm.anonMB*1.5+10 {
		t.Errorf("anonymous memory grew from %.1f MB after warm-up to %.1f MB", warm.anonMB, maxAnon)
	}
	if maxG > warm.goroutines*1.25+20 {
		t.Errorf("goroutines grew from %.0f after warm-up to %.0f", warm.goroutines, maxG)
	}
	if maxFD > warm.fds+20 {
		t.Errorf("open files grew from %.0f after warm-up to %.0f", warm.fds, maxFD)
	}
}

// scrape reads the unlabelled (and the lateness bucket) series of the
// daemon's /metrics.
func scrape(t *testing.T, status string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + status + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err == nil {
			m[l[:i]] = v
		}
	}
	return m
}

// rssAnon is the process's anonymous resident memory in bytes: the
// heap and stacks, not the store's file pages the kernel may drop.
func rssAnon(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssAnon:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024
		}
	}
	t.Fatal("no RssAnon in /proc status")
	return 0
}

// p99 is the 99th percentile (upper bucket bound) of the runs counted
// between two snapshots of a cumulative histogram.
func p99(prev, cur map[float64]float64) float64 {
	var bounds []float64
	for b := range cur {
		bounds = append(bounds, b)
	}
	if len(bounds) == 0 {
		return 0
	}
	slices.Sort(bounds)
	total := cur[math.Inf(1)] - prev[math.Inf(1)]
	if total <= 0 {
		return 0
	}
	for _, b := range bounds {
		if cur[b]-prev[b] >= 0.99*total {
			if math.IsInf(b, 1) {
				return bounds[max(0, len(bounds)-2)]
			}
			return b
		}
	}
	return bounds[len(bounds)-1]
}

// soakSVG draws each sampled series in its own panel over the run.
func soakSVG(s []soakSample, dur time.Duration) []byte {
	const w, h, pad = 720, 130, 40
	panels := []struct {
		name string
		get  func(soakSample) float64
	}{
		{"anonymous RSS (MB)", func(x soakSample) float64 { return x.anonMB }},
		{"goroutines", func(x soakSample) float64 { return x.goroutines }},
		{"open files", func(x soakSample) float64 { return x.fds }},
		{"store size (MB)", func(x soakSample) float64 { return x.storeMB }},
		{"scheduler lateness p99 (ms)", func(x soakSample) float64 { return x.p99ms }},
	}
	span := max(dur, s[len(s)-1].at)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, len(panels)*h+30)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">outpost soak: 450 checks every 5 s for %s (TestSoak)</text>`+"\n", pad, dur)
	for i, p := range panels {
		top := 30 + i*h
		hi := 0.0
		for _, x := range s {
			hi = max(hi, p.get(x))
		}
		hi = max(hi*1.1, 1)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s (max %.1f)</text>`+"\n", pad, top+12, p.name, hi/1.1)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>`+"\n", pad, top+18, w-2*pad, h-40)
		var pts []string
		for _, x := range s {
			px := pad + float64(w-2*pad)*x.at.Seconds()/span.Seconds()
			py := float64(top+18) + float64(h-40)*(1-p.get(x)/hi)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#1a6" stroke-width="1.5" points="%s"/>`+"\n", strings.Join(pts, " "))
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#666">0</text><text x="%d" y="%d" fill="#666" text-anchor="end">%s</text>`+"\n", pad, top+h-8, w-pad, top+h-8, span.Round(time.Second))
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}
