package appliance

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	phwire "outpost/appliance/phonehome/wire"
	"outpost/checks"
	"outpost/store"
)

// BenchmarkPhoneSummary200Devices: the summary of a 200-device site (five
// checks each, 1,000 checks, ten open incidents): its size gzip'd as sent,
// and the box's CPU to build, encode and compress it. The first summary
// lists every device as new; later ones carry only changes.
func BenchmarkPhoneSummary200Devices(b *testing.B) {
	var y strings.Builder
	y.WriteString("site: Two Hundred\nincidents: {confirm: 1}\ndevices:\n")
	for d := range 200 {
		fmt.Fprintf(&y, "  - {name: dev%03d, class: server}\n", d)
	}
	y.WriteString("checks:\n")
	for d := range 200 {
		for c := range 5 {
			fmt.Fprintf(&y, "  - {id: dev%03d-c%d, kind: tcp, target: '127.0.0.1:1', interval: 1h, labels: {device: dev%03d}}\n", d, c, d)
		}
	}
	dir := b.TempDir()
	p := filepath.Join(dir, "site.yaml")
	os.WriteFile(p, []byte(y.String()), 0o644)
	a, err := New(Options{ConfigPath: p, DataDir: filepath.Join(dir, "data"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	now := time.Now()
	for _, sp := range a.Config().Specs() {
		r := checks.Result{Time: now, Status: checks.OK, Latency: 2 * time.Millisecond, Detail: "connected in 2 ms"}
		if strings.HasSuffix(sp.ID, "-c0") && sp.ID < "dev010" {
			r = checks.Result{Time: now, Status: checks.Critical, Detail: "connect 127.0.0.1:1: connection refused"}
		}
		a.onResult(sp, r)
	}
	a.inc.Close() // incidents opened; no healing runs in the benchmark
	var m store.PhoneMeta
	first, inv, err := a.buildSummary("start", 1, m, false)
	if err != nil {
		b.Fatal(err)
	}
	// The 1,000 checks of the site and the box's own built-in ones.
	if want := len(a.Config().Specs()); len(first.OpenIncidents) != 10 || first.Health.Checks != want || want < 1000 {
		b.Fatalf("summary: %d open incidents, %d checks (want 10, %d)", len(first.OpenIncidents), first.Health.Checks, want)
	}
	body, _ := phwire.Encode(first)
	m.Inventory = inv
	b.ResetTimer()
	var size int
	for range b.N {
		s, _, err := a.buildSummary("interval", 2, m, false)
		if err != nil {
			b.Fatal(err)
		}
		data, err := phwire.Encode(s)
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(len(body)), "first-summary-bytes")
	b.ReportMetric(float64(size), "summary-bytes")
}
