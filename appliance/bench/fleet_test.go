package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"outpost/appliance"
	"outpost/appliance/cli"
)

// fleet is the loopback estate: HTTP servers on 127.0.x.y:8080 and TCP
// listeners on 127.1.x.y:9000, one address each, so every check opens a
// fresh connection to its own endpoint as it would on a real site.
type fleet struct {
	http, tcp []string
	closers   []io.Closer
}

func startFleet(b *testing.B, nHTTP, nTCP int) *fleet {
	b.Helper()
	f := &fleet{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok outpost fleet\n") })
	for i := 0; i < nHTTP; i++ {
		addr := fmt.Sprintf("127.0.%d.%d:8080", 1+i/250, 1+i%250)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			b.Fatalf("fleet listen %s: %v", addr, err)
		}
		srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		f.closers = append(f.closers, srv)
		f.http = append(f.http, "http://"+addr+"/")
	}
	for i := 0; i < nTCP; i++ {
		addr := fmt.Sprintf("127.1.%d.%d:9000", 1+i/250, 1+i%250)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			b.Fatalf("fleet listen %s: %v", addr, err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		f.closers = append(f.closers, ln)
		f.tcp = append(f.tcp, addr)
	}
	b.Cleanup(func() {
		for _, c := range f.closers {
			c.Close()
		}
	})
	return f
}

func (f *fleet) config(httpOn, tcpOn bool, interval time.Duration) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "site: Bench fleet\nscheduler: {concurrency: 64}\ndefaults: {interval: %s, timeout: 5s}\nchecks:\n", interval)
	if httpOn {
		for i, u := range f.http {
			fmt.Fprintf(&sb, "  - {id: web-%04d, kind: http, target: %q}\n", i, u)
		}
	}
	if tcpOn {
		for i, a := range f.tcp {
			fmt.Fprintf(&sb, "  - {id: tcp-%04d, kind: tcp, target: %q}\n", i, a)
		}
	}
	return sb.String()
}

// procSample is the daemon's CPU time and memory at one moment.
type procSample struct {
	cpu          time.Duration
	rss, rssAnon int64
}

func sample(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the ")" of comm: utime is field 14, stime 15 overall.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s.cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			s.rss = kb << 10
		case "RssAnon":
			s.rssAnon = kb << 10
		}
	}
	return s, nil
}

type metrics struct {
	runs     map[string]float64
	commits  float64
	written  float64
	size     float64
	lateness []bucket
}

type bucket struct {
	le    float64
	count float64
}

var metricLine = regexp.MustCompile(`^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+|\+Inf)$`)

func scrape(addr string) (metrics, error) {
	m := metrics{runs: map[string]float64{}}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		g := metricLine.FindStringSubmatch(sc.Text())
		if g == nil {
			continue
		}
		v, _ := strconv.ParseFloat(g[3], 64)
		switch g[1] {
		case "outpost_checks_run_total":
			m.runs[strings.Trim(strings.TrimPrefix(g[2], "{kind="), `"}`)] = v
		case "outpost_store_commits_total":
			m.commits = v
		case "outpost_store_results_written_total":
			m.written = v
		case "outpost_store_size_bytes":
			m.size = v
		case "outpost_scheduler_lateness_seconds_bucket":
			le := strings.Trim(strings.TrimPrefix(g[2], "{le="), `"}`)
			lv, err := strconv.ParseFloat(le, 64)
			if err != nil {
				lv = 1e9
			}
			m.lateness = append(m.lateness, bucket{lv, v})
		}
	}
	return m, sc.Err()
}

// quantile of the lateness histogram between two scrapes.
func quantile(before, after []bucket, q float64) float64 {
	if len(after) == 0 {
		return 0
	}
	diff := make([]bucket, len(after))
	for i := range after {
		diff[i] = after[i]
		if i < len(before) {
			diff[i].count -= before[i].count
		}
	}
	sort.Slice(diff, func(i, j int) bool { return diff[i].le < diff[j].le })
	total := diff[len(diff)-1].count
	for _, bk := range diff {
		if bk.count >= q*total {
			return bk.le
		}
	}
	return diff[len(diff)-1].le
}

type run struct {
	name          string
	checks        int
	interval      time.Duration
	measured      time.Duration
	scheduled     float64
	achieved      float64
	runsByKind    map[string]float64
	cpu           time.Duration
	peakRSS       int64
	peakAnon      int64
	p50, p99      float64
	commitsPerMin float64
	bytesPerRes   float64
	firstRound    time.Duration
	allRanInFirst bool
}

// runDaemon starts the real outpost binary on cfg, lets it warm up for one
// interval, then measures for `measure`.
func runDaemon(b *testing.B, bin, name, cfg string, nChecks int, interval, measure time.Duration) run {
	dir := b.TempDir()
	cfgPath := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	data := filepath.Join(dir, "data")
	args := []string{"run", "--config", cfgPath, "--data", data, "--listen", addr, "--ui-listen", "127.0.0.1:0", "--log-level", "warn"}
	if p := os.Getenv("FLEET_CPU_PROFILE"); p != "" {
		args = append(args, "--cpu-profile", p+"-"+strings.ReplaceAll(name, " ", "_")+".pprof")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	pid := cmd.Process.Pid
	start := time.Now()
	for {
		if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
			break
		}
		if time.Since(start) > 20*time.Second {
			b.Fatal("daemon did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := run{name: name, checks: nChecks, interval: interval, measured: measure}
	peak := func() {
		if s, err := sample(pid); err == nil {
			r.peakRSS = max(r.peakRSS, s.rss)
			r.peakAnon = max(r.peakAnon, s.rssAnon)
		}
	}
	// First round: every check must have a result within one interval.
	deadline := start.Add(interval + 2*time.Second)
	for time.Now().Before(deadline) {
		peak()
		time.Sleep(250 * time.Millisecond)
		var cs []appliance.CheckState
		if err := cli.Control(context.Background(), data, "GET", "/checks", nil, &cs); err != nil {
			continue
		}
		n := 0
		for _, c := range cs {
			if c.Latest != nil {
				n++
			}
		}
		if n == nChecks {
			r.firstRound = time.Since(start)
			r.allRanInFirst = r.firstRound <= interval+time.Second
			break
		}
	}
	m0, err := scrape(addr)
	if err != nil {
		b.Fatal(err)
	}
	s0, _ := sample(pid)
	t0 := time.Now()
	for time.Since(t0) < measure {
		peak()
		time.Sleep(500 * time.Millisecond)
	}
	m1, err := scrape(addr)
	if err != nil {
		b.Fatal(err)
	}
	s1, _ := sample(pid)
	el := time.Since(t0)
	r.cpu = s1.cpu - s0.cpu
	r.runsByKind = map[string]float64{}
	for k, v := range m1.runs {
		r.runsByKind[k] = v - m0.runs[k]
		r.achieved += v - m0.runs[k]
	}
	r.scheduled = float64(nChecks) * el.Seconds() / interval.Seconds()
	r.p50 = quantile(m0.lateness, m1.lateness, 0.50)
	r.p99 = quantile(m0.lateness, m1.lateness, 0.99)
	r.commitsPerMin = (m1.commits - m0.commits) / el.Minutes()
	if m1.written > 0 {
		r.bytesPerRes = m1.size / m1.written
	}
	return r
}

// BenchmarkFleet is the whole-daemon benchmark. It needs the built
// binary: `make bench` sets OUTPOST_BIN. FLEET_MEASURE shortens the run for
// a quick look (default 3m30s for the full fleet, 60s per kind).
func BenchmarkFleet(b *testing.B) {
	bin := os.Getenv("OUTPOST_BIN")
	if bin == "" {
		b.Skip("set OUTPOST_BIN to a built outpost binary (make bench does)")
	}
	measure := 210 * time.Second
	perKind := 60 * time.Second
	if v := os.Getenv("FLEET_MEASURE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		measure, perKind = d, d
	}
	const interval = 30 * time.Second
	f := startFleet(b, 2000, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		all := runDaemon(b, bin, "2,000 HTTP + 1,000 TCP", f.config(true, true, interval), 3000, interval, measure)
		httpOnly := runDaemon(b, bin, "2,000 HTTP only", f.config(true, false, interval), 2000, interval, perKind)
		tcpOnly := runDaemon(b, bin, "1,000 TCP only", f.config(false, true, interval), 1000, interval, perKind)
		for _, r := range []run{all, httpOnly, tcpOnly} {
			report(r)
		}
		b.ReportMetric(float64(httpOnly.cpu.Microseconds())/1000/httpOnly.achieved, "cpu-ms/http-check")
		b.ReportMetric(float64(tcpOnly.cpu.Microseconds())/1000/tcpOnly.achieved, "cpu-ms/tcp-check")
		b.ReportMetric(all.p99*1000, "lateness-p99-ms")
		b.ReportMetric(float64(httpOnly.peakAnon)/(1<<20), "anon-rss-MB/2000-http")
	}
}

func report(r run) {
	fmt.Printf("\n### %s, every %s, measured %s after the first round\n\n", r.name, r.interval, r.measured)
	fmt.Printf("| figure | value |\n|---|---|\n")
	fmt.Printf("| checks scheduled / achieved | %.0f / %.0f (%.2f %%) |\n", r.scheduled, r.achieved, 100*r.achieved/r.scheduled)
	fmt.Printf("| checks per minute | %.0f |\n", r.achieved/r.measured.Minutes())
	fmt.Printf("| every check ran within its first interval | %v (all had a result %.1f s after start) |\n", r.allRanInFirst, r.firstRound.Seconds())
	fmt.Printf("| CPU per check (all kinds) | %.3f ms |\n", float64(r.cpu.Microseconds())/1000/r.achieved)
	fmt.Printf("| checks per minute per CPU-second | %.0f |\n", (r.achieved/r.measured.Minutes())/(r.cpu.Seconds()/r.measured.Minutes()))
	fmt.Printf("| lateness p50 / p99 | %.3f ms / %.3f ms (histogram bucket bounds) |\n", r.p50*1000, r.p99*1000)
	fmt.Printf("| peak RSS / peak anonymous RSS | %.1f MB / %.1f MB |\n", float64(r.peakRSS)/(1<<20), float64(r.peakAnon)/(1<<20))
	fmt.Printf("| bbolt commits per minute | %.1f |\n", r.commitsPerMin)
	fmt.Printf("| file bytes per stored result (short run, includes bbolt preallocation) | %.1f |\n", r.bytesPerRes)
}
