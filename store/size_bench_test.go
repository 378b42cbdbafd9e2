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

	"outpost/checks"
	"outpost/checks/clock"
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
		yearRollups, yearChanges := buildYear(b, s, start.Add(time.Duration(days-2)*24*time.Hour))
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
		// A year on: raw results as now (steady state), free pages as
		// now, and a real file of 35 days of 5-minute rollups, 400 days
		// of hourly rollups and 400 days of status changes built from
		// this run's last complete day.
		yearWithFree := float64(int64(raw.alloc)+yearRollups+yearChanges+free) / 1e6

		b.ReportMetric(float64(onDisk)/float64(raw.records), "disk-bytes/raw-result")
		b.ReportMetric(per(raw), "raw-page-bytes/raw-result")
		b.ReportMetric(float64(onDisk)/float64(raw.records+r5m.records+r1h.records), "disk-bytes/record")
		b.ReportMetric(yearWithFree, "year-MB")
		b.ReportMetric(float64(commits), "commits")
		fmt.Printf("\n%d checks every 60 s, %d simulated days, default retention (raw 48h, 5m 35d, 1h 400d):\n", nChecks, days)
		fmt.Printf("  file %.1f MB, %.1f MB allocated on disk, of which %.1f MB free pages kept for reuse\n", float64(fi.Size())/1e6, float64(onDisk)/1e6, float64(free)/1e6)
		fmt.Printf("  raw results   %9d in %6.1f MB of pages: %5.1f bytes each\n", raw.records, float64(raw.alloc)/1e6, per(raw))
		fmt.Printf("  5m rollups    %9d in %6.1f MB of pages: %5.1f bytes each\n", r5m.records, float64(r5m.alloc)/1e6, per(r5m))
		fmt.Printf("  1h rollups    %9d in %6.1f MB of pages: %5.1f bytes each\n", r1h.records, float64(r1h.alloc)/1e6, per(r1h))
		fmt.Printf("  status changes %8d in %6.1f MB of pages\n", chg.records, float64(chg.alloc)/1e6)
		fmt.Printf("  whole file on disk / raw results held: %.1f bytes; / all records (raw + rollups): %.1f bytes\n", float64(onDisk)/float64(raw.records), float64(onDisk)/float64(raw.records+r5m.records+r1h.records))
		fmt.Printf("  commits: %d (one per flush, maintenance included)\n", commits)
		fmt.Printf("  a year of rollups built for real from the last complete day: %.1f MB (35 d of 5m + 400 d of 1h), status changes for 400 d: %.1f MB\n", float64(yearRollups)/1e6, float64(yearChanges)/1e6)
		fmt.Printf("  projected file after a year: %.0f MB (raw + a year of rollups and changes + today's free pages)\n", yearWithFree)
	}
}

// buildYear writes, into a scratch bbolt file, what a year adds up to
// for every check: the rollup blocks and status changes of day, copied
// to 35 days (5-minute), 400 days (hourly) and 400 days (changes) with
// keys shifted a day at a time, in day order as maintenance writes them.
// It returns the bytes allocated by the rollups and by the changes.
func buildYear(b *testing.B, s *Store, day time.Time) (rollups, changes int64) {
	type kv struct{ k, v []byte }
	src := map[string]map[string][]kv{} // bucket -> check -> day's entries
	s.db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketR5m, bucketR1h, bucketChanges} {
			top := tx.Bucket(name)
			src[string(name)] = map[string][]kv{}
			top.ForEachBucket(func(id []byte) error {
				c := top.Bucket(id).Cursor()
				end := timeKey(day.Add(24 * time.Hour))
				for k, v := c.Seek(timeKey(day)); k != nil && string(k[:8]) < string(end); k, v = c.Next() {
					src[string(name)][string(id)] = append(src[string(name)][string(id)], kv{append([]byte(nil), k...), append([]byte(nil), v...)})
				}
				return nil
			})
		}
		return nil
	})
	size := func(buckets []string, days int) int64 {
		path := filepath.Join(b.TempDir(), "year.db")
		db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
		if err != nil {
			b.Fatal(err)
		}
		for d0 := 0; d0 < days; d0 += 20 {
			err := db.Update(func(tx *bolt.Tx) error {
				for d := d0; d < min(d0+20, days); d++ {
					shift := int64(d) * 24 * 3600 * 1000
					for _, name := range buckets {
						top, _ := tx.CreateBucketIfNotExists([]byte(name))
						for id, entries := range src[name] {
							bk, _ := top.CreateBucketIfNotExists([]byte(id))
							bk.FillPercent = 0.95
							for _, e := range entries {
								k := append([]byte(nil), e.k...)
								copy(k, timeKey(keyTime(e.k).Add(time.Duration(shift)*time.Millisecond)))
								if err := bk.Put(k, e.v); err != nil {
									return err
								}
							}
						}
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		db.Close()
		fi, _ := os.Stat(path)
		return fi.Sys().(*syscall.Stat_t).Blocks * 512
	}
	r1h := size([]string{string(bucketR1h)}, 400)
	r5m := size([]string{string(bucketR5m)}, 35)
	chg := size([]string{string(bucketChanges)}, 400)
	return r1h + r5m, chg
}
