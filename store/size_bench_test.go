//go:build linux

package store

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"outpost/appliance/clock"
	"outpost/checks"
)

// BenchmarkDiskPerResult simulates 1,000 checks every 60 s for four days
// on a fake clock (one flush per simulated minute, maintenance hourly,
// default retention), then reports the file size per raw result held and
// the projected size after a year, when the hourly rollups are full.
func BenchmarkDiskPerResult(b *testing.B) {
	nChecks, days := 1000, 4
	if v := os.Getenv("DISK_BENCH_CHECKS"); v != "" {
		fmt.Sscan(v, &nChecks)
	}
	for i := 0; i < b.N; i++ {
		path := filepath.Join(b.TempDir(), "o.db")
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		fc := clock.NewFake(start)
		s, err := Open(path, Options{Clock: fc})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewSource(1))
		var sizeAfterDay3 int64
		for m := 0; m < days*24*60; m++ {
			now := start.Add(time.Duration(m) * time.Minute)
			fc.Set(now)
			for c := 0; c < nChecks; c++ {
				lat := time.Duration(300+rng.Intn(4000)) * time.Microsecond
				r := checks.Result{Time: now.Add(time.Duration(c) * 59 * time.Millisecond), Status: checks.OK, Latency: lat}.WithValue(float64(lat) / 1e6)
				r.Detail = fmt.Sprintf("200 OK in %.1f ms", float64(lat)/1e6)
				if rng.Intn(500) == 0 {
					r.Status, r.Detail = checks.Critical, "connect: connection refused"
				}
				s.Append(fmt.Sprintf("web-%04d", c), r)
			}
			if err := s.Flush(); err != nil {
				b.Fatal(err)
			}
			if m%60 == 59 {
				if err := s.Maintain(); err != nil {
					b.Fatal(err)
				}
			}
			if m == 3*24*60-1 {
				sizeAfterDay3 = s.Stats().FileSize
			}
		}
		var raw, r1h, r5m int
		s.db.View(func(tx *bolt.Tx) error {
			count := func(name []byte, per func([]byte) int) (n int) {
				tx.Bucket(name).ForEachBucket(func(k []byte) error {
					tx.Bucket(name).Bucket(k).ForEach(func(_, v []byte) error { n += per(v); return nil })
					return nil
				})
				return n
			}
			raw = count(bucketResults, func(v []byte) int { st, _ := decodeBlock(time.Time{}, v, nil); return st.n })
			r5m = count(bucketR5m, func(v []byte) int { rs, _ := decodeRollups(time.Time{}, 5*time.Minute, v); return len(rs) })
			r1h = count(bucketR1h, func(v []byte) int { rs, _ := decodeRollups(time.Time{}, time.Hour, v); return len(rs) })
			return nil
		})
		st := s.Stats()
		s.db.View(func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bucketResults, bucketR5m, bucketR1h, bucketChanges} {
				bs := tx.Bucket(name).Stats()
				fmt.Printf("  bucket %-8s leaf alloc %6.1f MB in use %6.1f MB, branch alloc %5.1f MB, inline %d\n", name, float64(bs.LeafAlloc)/1e6, float64(bs.LeafInuse)/1e6, float64(bs.BranchAlloc)/1e6, bs.InlineBucketInuse)
			}
			return nil
		})
		ds := s.db.Stats()
		fmt.Printf("  free pages %d (%.1f MB), pending %d\n", ds.FreePageN, float64(ds.FreePageN*4096)/1e6, ds.PendingPageN)
		s.Close()
		fi, _ := os.Stat(path)
		// bbolt grows the file ahead of need (sparse, with truncate):
		// what the disk really holds is the allocated blocks.
		var onDisk int64
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			onDisk = sys.Blocks * 512
		}
		perRaw := float64(onDisk) / float64(raw)
		// Growth per day once raw and 5m data are at steady state comes
		// from the hourly rollups alone: measure it on day 4.
		growthPerDay := float64(fi.Size() - sizeAfterDay3)
		b.ReportMetric(perRaw, "disk-bytes/raw-result")
		b.ReportMetric(float64(fi.Size())/1e6, "file-MB")
		b.ReportMetric(float64(onDisk)/1e6, "disk-MB")
		b.ReportMetric(float64(raw), "raw-results")
		b.ReportMetric(float64(st.Commits)/float64(days*24*60), "commits/min")
		fmt.Printf("\n1,000 checks every 60 s, %d simulated days, default retention (raw 48h, 5m 14d, 1h 400d):\n", days)
		fmt.Printf("  file %.1f MB (%.1f MB allocated on disk) holding %d raw results, %d 5-minute and %d hourly rollups\n", float64(fi.Size())/1e6, float64(onDisk)/1e6, raw, r5m, r1h)
		fmt.Printf("  %.1f bytes on disk per raw result held (everything allocated, rollups included, divided by raw results)\n", perRaw)
		fmt.Printf("  growth on day 4: %.2f MB/day; hourly rollups cost about %.0f bytes each\n", growthPerDay/1e6, float64(encodedRollupSize())/24)
		fmt.Printf("  projected after a year: %.0f MB (raw 48h + 5m 14d at steady state, plus 400 days of hourly rollups)\n", projectYear(fi.Size(), r5m, r1h, nChecks, days))
	}
}

// encodedRollupSize is the size of one day of hourly rollups of a check.
func encodedRollupSize() int {
	var rs []Rollup
	for h := 0; h < 24; h++ {
		rs = append(rs, Rollup{Start: time.Unix(0, 0).Add(time.Duration(h) * time.Hour), Count: 60, Failures: 0, HasValue: true, ValueMin: 0.3, ValueMax: 4.2, ValueMean: 2.2, LatencyMin: 300 * time.Microsecond, LatencyMax: 4300 * time.Microsecond, LatencyMean: 2200 * time.Microsecond})
	}
	return len(encodeRollups(time.Unix(0, 0), time.Hour, rs))
}

// projectYear adds to today's file the hourly rollup blocks still to
// come (one ~day block per check per day, plus bbolt's per-key overhead).
func projectYear(size int64, r5m, r1h, nChecks, days int) float64 {
	const keyOverhead = 16 + 8 // bbolt leaf element + key
	perDay := float64(nChecks) * float64(encodedRollupSize()+keyOverhead) / 0.95
	return (float64(size) + perDay*float64(400-days)) / 1e6
}
