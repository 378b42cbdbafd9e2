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
// on a fake clock (default retention, maintenance hourly), then reports
// the disk space per raw result held and the projected size after a
// year, when 35 days of 5-minute and 400 days of hourly rollups are full.
// Results are flushed every 10 simulated minutes rather than every
// second: the blocks and pages come out the same (a block closes by size
// or span, not by flush), and the run stays under two minutes.
func BenchmarkDiskPerResult(b *testing.B) {
	nChecks, days := 1000, 4
	if v := os.Getenv("DISK_BENCH_CHECKS"); v != "" {
		fmt.Sscan(v, &nChecks)
	}
	const flushEvery = 10 // simulated minutes
	for i := 0; i < b.N; i++ {
		path := filepath.Join(b.TempDir(), "o.db")
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		fc := clock.NewFake(start)
		s, err := Open(path, Options{Clock: fc})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewSource(1))
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
			if m%flushEvery == flushEvery-1 {
				if err := s.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			if m%60 == 59 {
				if err := s.Maintain(); err != nil {
					b.Fatal(err)
				}
			}
		}
		commits := s.Stats().Commits
		type usage struct {
			records int
			alloc   int
		}
		var raw, r5m, r1h, chg usage
		s.db.View(func(tx *bolt.Tx) error {
			count := func(name []byte, per func([]byte) int) (u usage) {
				top := tx.Bucket(name)
				top.ForEachBucket(func(k []byte) error {
					top.Bucket(k).ForEach(func(_, v []byte) error { u.records += per(v); return nil })
					return nil
				})
				bs := top.Stats()
				u.alloc = bs.LeafAlloc + bs.BranchAlloc + bs.InlineBucketInuse
				return u
			}
			raw = count(bucketResults, func(v []byte) int { st, _ := decodeBlock(time.Time{}, v, nil); return st.n })
			r5m = count(bucketR5m, func(v []byte) int { rs, _ := decodeRollups(time.Time{}, 5*time.Minute, v); return len(rs) })
			r1h = count(bucketR1h, func(v []byte) int { rs, _ := decodeRollups(time.Time{}, time.Hour, v); return len(rs) })
			chg = count(bucketChanges, func([]byte) int { return 1 })
			return nil
		})
		ds := s.db.Stats()
		free := int64(ds.FreePageN+ds.PendingPageN) * int64(s.db.Info().PageSize)
		s.Close()
		fi, _ := os.Stat(path)
		// bbolt grows the file ahead of need (sparse, with truncate):
		// what the disk really holds is the allocated blocks.
		var onDisk int64
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			onDisk = sys.Blocks * 512
		}
		per := func(u usage) float64 { return float64(u.alloc) / float64(max(u.records, 1)) }
		// A year on: raw results and changes as now (steady state),
		// 5-minute rollups for 35 days and hourly ones for 400, at the
		// bytes each costs today, plus free pages in the same proportion
		// to the data as now.
		data := float64(raw.alloc + r5m.alloc + r1h.alloc + chg.alloc)
		year := float64(raw.alloc+chg.alloc) + per(r5m)*float64(nChecks*288*35) + per(r1h)*float64(nChecks*24*400)
		yearWithFree := year * float64(onDisk) / data

		b.ReportMetric(float64(onDisk)/float64(raw.records), "disk-bytes/raw-result")
		b.ReportMetric(per(raw), "raw-page-bytes/raw-result")
		b.ReportMetric(float64(onDisk)/float64(raw.records+r5m.records+r1h.records), "disk-bytes/record")
		b.ReportMetric(yearWithFree/1e6, "year-MB")
		b.ReportMetric(float64(commits), "commits")
		fmt.Printf("\n%d checks every 60 s, %d simulated days, default retention (raw 48h, 5m 35d, 1h 400d):\n", nChecks, days)
		fmt.Printf("  file %.1f MB, %.1f MB allocated on disk, of which %.1f MB free pages kept for reuse\n", float64(fi.Size())/1e6, float64(onDisk)/1e6, float64(free)/1e6)
		fmt.Printf("  raw results   %9d in %6.1f MB of pages: %5.1f bytes each\n", raw.records, float64(raw.alloc)/1e6, per(raw))
		fmt.Printf("  5m rollups    %9d in %6.1f MB of pages: %5.1f bytes each\n", r5m.records, float64(r5m.alloc)/1e6, per(r5m))
		fmt.Printf("  1h rollups    %9d in %6.1f MB of pages: %5.1f bytes each\n", r1h.records, float64(r1h.alloc)/1e6, per(r1h))
		fmt.Printf("  status changes %8d in %6.1f MB of pages\n", chg.records, float64(chg.alloc)/1e6)
		fmt.Printf("  whole file on disk / raw results held: %.1f bytes; / all records (raw + rollups): %.1f bytes\n", float64(onDisk)/float64(raw.records), float64(onDisk)/float64(raw.records+r5m.records+r1h.records))
		fmt.Printf("  commits: %d (one per flush, maintenance included)\n", commits)
		fmt.Printf("  projected after a year: %.0f MB of data, %.0f MB with free pages in today's proportion\n", year/1e6, yearWithFree/1e6)
	}
}
