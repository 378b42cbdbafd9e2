package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"outpost/checks"
)

// BenchmarkAppendFlush measures one flush interval's work at a busy
// site: 1,000 checks each append a result, then one Flush commits them
// (one transaction, fsyncs included). ns/op is per flush.
func BenchmarkAppendFlush(b *testing.B) {
	const nChecks = 1000
	s := mustOpen(b, filepath.Join(b.TempDir(), "o.db"), Options{})
	ids := make([]string, nChecks)
	for c := range ids {
		ids[c] = fmt.Sprintf("web-%04d", c)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tm := t0.Add(time.Duration(i) * time.Minute)
		for c, id := range ids {
			s.Append(id, checks.Result{Time: tm, Status: checks.OK, Latency: time.Duration(300+c) * time.Microsecond, Detail: "200 OK"}.WithValue(float64(c)))
		}
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nChecks), "ns/result")
	b.ReportMetric(float64(st.Commits)/float64(b.N), "commits/flush")
}
