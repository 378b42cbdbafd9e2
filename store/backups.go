package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"outpost/checks"
)

// Backup jobs ping the box over the LAN (checks/backup). Only the pings of
// configured jobs reach the store, but it bounds them again, whatever the
// handler lets through: a job keeps its newest BackupPingsPerJob pings of
// at most checks.BackupOutputMax bytes of output each, and the store keeps
// at most BackupJobs jobs (the one heard from least recently goes), so a
// chatty or hostile job costs at most a few megabytes.
var (
	bucketBackups     = []byte("backups")      // job uuid -> time+seq -> BackupPing
	bucketBackupState = []byte("backup-state") // job uuid -> BackupState
)

// Bounds of the backup history.
const (
	BackupPingsPerJob = 200
	BackupJobs        = 1_000
	// maxBackupJob bounds a job key (a UUID is 36 bytes).
	maxBackupJob = 64
	// maxBackupField bounds the short fields of a ping.
	maxBackupField = 256
)

func init() {
	registerBucket(string(bucketBackups))
	registerBucket(string(bucketBackupState))
}

var _ checks.BackupPings = (*Store)(nil)

// cutTail keeps the last n bytes of s on a rune boundary, marking the cut.
func cutTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n + len("…")
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return "…" + s[i:]
}

// boundPing returns p cut to the sizes the store keeps.
func boundPing(p checks.BackupPing) checks.BackupPing {
	p.Output = cutTail(strings.ToValidUTF8(p.Output, "\uFFFD"), checks.BackupOutputMax)
	p.Source, p.Method, p.UserAgent = cut(p.Source, maxBackupField), cut(p.Method, maxBackupField), cut(p.UserAgent, maxBackupField)
	p.RunID, p.Signal = cut(p.RunID, maxBackupField), checks.BackupSignal(cut(string(p.Signal), maxBackupField))
	return p
}

func checkBackupJob(job string) error {
	if job == "" || len(job) > maxBackupJob {
		return fmt.Errorf("backup job %q: not a job key (1 to %d bytes)", cut(job, maxBackupJob), maxBackupJob)
	}
	return nil
}

// AddBackupPing keeps a ping of job (a UUID) and updates the job's state
// in the same commit; it returns the ping as kept (cut to the store's
// bounds, its run's Duration filled in for a finish). The job's oldest
// pings go beyond BackupPingsPerJob, and the job heard from least
// recently goes beyond BackupJobs. Errors are the disk's.
func (s *Store) AddBackupPing(job string, p checks.BackupPing) (checks.BackupPing, error) {
	if err := checkBackupJob(job); err != nil {
		return p, err
	}
	p = boundPing(p)
	err := s.db.Update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketBackupState)
		st, ok, err := backupState(sb, job)
		if err != nil {
			return err
		}
		if !ok {
			if err := evictBackupJobs(tx, BackupJobs-1); err != nil {
				return err
			}
			st = checks.BackupState{Job: job, Watched: p.Time.UTC()}
		}
		p = st.Add(p)
		if err := putJSON(sb, job, st); err != nil {
			return err
		}
		b, err := tx.Bucket(bucketBackups).CreateBucketIfNotExists([]byte(job))
		if err != nil {
			return err
		}
		b.FillPercent = 0.95
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		v, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if err := b.Put(seqKey(p.Time, uint32(seq)), v); err != nil {
			return err
		}
		n := 0 // Stats does not count this commit's keys yet
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		for k, _ := c.First(); k != nil && n > BackupPingsPerJob; k, _ = c.First() {
			if err := b.Delete(k); err != nil {
				return err
			}
			n--
		}
		return nil
	})
	if err != nil {
		return p, fmt.Errorf("keeping a ping of backup job %s: %w", job, err)
	}
	return p, nil
}

func backupState(sb *bolt.Bucket, job string) (checks.BackupState, bool, error) {
	var st checks.BackupState
	data := sb.Get([]byte(job))
	if data == nil {
		return st, false, nil
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, false, fmt.Errorf("backup job %s state: %w", job, err)
	}
	return st, true, nil
}

// evictBackupJobs deletes the jobs heard from least recently (watched
// longest ago when never heard from) until at most keep remain.
func evictBackupJobs(tx *bolt.Tx, keep int) error {
	sb := tx.Bucket(bucketBackupState)
	n := 0
	c := sb.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	if n <= keep {
		return nil
	}
	type job struct {
		key  []byte
		last time.Time
	}
	var jobs []job
	if err := sb.ForEach(func(k, v []byte) error {
		var st checks.BackupState
		json.Unmarshal(v, &st) // an unreadable state goes first (zero time)
		last := st.LastPing
		if last.IsZero() {
			last = st.Watched
		}
		jobs = append(jobs, job{bytes.Clone(k), last})
		return nil
	}); err != nil {
		return err
	}
	for len(jobs) > keep && len(jobs) > 0 {
		oldest := 0
		for i := range jobs {
			if jobs[i].last.Before(jobs[oldest].last) {
				oldest = i
			}
		}
		if err := sb.Delete(jobs[oldest].key); err != nil {
			return err
		}
		if pb := tx.Bucket(bucketBackups); pb.Bucket(jobs[oldest].key) != nil {
			if err := pb.DeleteBucket(jobs[oldest].key); err != nil {
				return err
			}
		}
		jobs = append(jobs[:oldest], jobs[oldest+1:]...)
	}
	return nil
}

// BackupJob returns what is known of job; a job never seen before is
// recorded as watched from now (once: later calls return that time), so
// a job that never runs is late one period after the box first judged it,
// across restarts.
func (s *Store) BackupJob(job string, now time.Time) (checks.BackupState, error) {
	if err := checkBackupJob(job); err != nil {
		return checks.BackupState{}, err
	}
	var st checks.BackupState
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		st, ok, err = backupState(tx.Bucket(bucketBackupState), job)
		return err
	})
	if err != nil || ok {
		return st, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketBackupState)
		var err error
		if st, ok, err = backupState(sb, job); err != nil || ok {
			return err // a ping came in between
		}
		if err := evictBackupJobs(tx, BackupJobs-1); err != nil {
			return err
		}
		st = checks.BackupState{Job: job, Watched: now.UTC()}
		return putJSON(sb, job, st)
	})
	if err != nil {
		return st, fmt.Errorf("recording backup job %s: %w", job, err)
	}
	return st, nil
}

// BackupPings returns the newest n pings of job (all kept when n <= 0),
// oldest first.
func (s *Store) BackupPings(job string, n int) ([]checks.BackupPing, error) {
	var out []checks.BackupPing
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBackups).Bucket([]byte(job))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && (n <= 0 || len(out) < n); k, v = c.Prev() {
			var p checks.BackupPing
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("backup job %s ping %x: %w", job, k, err)
			}
			out = append(out, p)
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}
