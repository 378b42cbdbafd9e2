//go:build linux

package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"outpost/appliance/hq/pgtest"
)

// startHQPostgres runs `outpost hq run` on a PostgreSQL database, with
// extra environment (PGPASSWORD) and flags (--db or --db-file).
func startHQPostgres(t *testing.T, data, listen, cert, key string, env []string, flags ...string) (*exec.Cmd, *logTail) {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"hq", "run", "--data", data, "--listen", listen, "--ui-listen", "127.0.0.1:0", "--cert", cert, "--key", key}, flags...)...)
	cmd.Env = append(os.Environ(), env...)
	lt := &logTail{}
	lt.follow(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "hq on PostgreSQL to answer hq list", patience, func() string {
		if _, code := outpost(t, "hq", "list", "--data", data); code != 0 {
			return "hq never answered:\n" + lt.String()
		}
		return ""
	})
	return cmd, lt
}

// balancer is the load balancer in front of several hq instances, made
// for the test: HTTPS with hq's certificate, each request to the next
// backend in turn; a backend that refuses the connection (down) is
// skipped, the way a balancer's health check would; a request that
// reached a backend which then died gets 502 (a POST is not replayed).
// kill, when set, is called once the request numbered killAt going to
// backend 0 has been written to it: the backend dies mid-request.
type balancer struct {
	addr     string
	backends []string
	next     atomic.Int64
	hits     []atomic.Int64
	toFirst  atomic.Int64
	killAt   atomic.Int64
	kill     func()
	client   *http.Client
	mu       sync.Mutex
	failures []string
}

func newBalancer(t *testing.T, cert tls.Certificate, caFile string, backends ...string) *balancer {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	b := &balancer{backends: backends, hits: make([]atomic.Int64, len(backends)),
		client: &http.Client{Timeout: patience, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	srv := &http.Server{Handler: b, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return b
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	start := int(b.next.Add(1))
	for try := range len(b.backends) {
		i := (start + try) % len(b.backends)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, "https://"+b.backends[i]+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		req.ContentLength = int64(len(body))
		killing := false
		if i == 0 {
			if n := b.toFirst.Add(1); n == b.killAt.Load() && b.kill != nil {
				killing = true
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { b.kill() }}))
			}
		}
		resp, err := b.client.Do(req)
		if err != nil {
			var op *net.OpError
			if !killing && errors.As(err, &op) && op.Op == "dial" {
				continue // down: the next one
			}
			b.mu.Lock()
			b.failures = append(b.failures, fmt.Sprintf("backend %d: %v", i, err))
			b.mu.Unlock()
			http.Error(w, "backend failed mid-request", http.StatusBadGateway)
			return
		}
		b.hits[i].Add(1)
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "no backend up", http.StatusServiceUnavailable)
}

// TestHQInstancesShareOnePostgres: two real `outpost hq run` instances
// on one real PostgreSQL (a cluster the test starts), behind a load
// balancer that sends each request to the next instance; two real boxes
// phone home through it. One instance is SIGKILLed right after a
// summary's request reached it, then started again. Every summary of
// each box is stored exactly once (the database's rows: seq 1..N, each
// once, received in sequence order), nothing is refused as a conflict,
// and each instance sees what the other stored and registered. The
// database password reaches the instances through PGPASSWORD and a
// --db-file, and shows in neither log.
func TestHQInstancesShareOnePostgres(t *testing.T) {
	pg := pgtest.Start(t)
	db := pg.NewDatabase(t)
	dir := t.TempDir()
	caFile, certFile, keyFile, cert := testCA(t, dir, "hq")
	dbFile := filepath.Join(dir, "db-url")
	os.WriteFile(dbFile, []byte(pg.URL(db)+"\n"), 0o600)
	dataA, dataB := t.TempDir(), t.TempDir()
	addrA, addrB := freePort(t), freePort(t)
	flagsA := []string{"--db", pg.URLWithoutPassword(db)}
	envA := []string{"PGPASSWORD=" + pg.Password}
	hqA, logA := startHQPostgres(t, dataA, addrA, certFile, keyFile, envA, flagsA...)
	_, logB := startHQPostgres(t, dataB, addrB, certFile, keyFile, nil, "--db-file", dbFile)

	lb := newBalancer(t, cert, caFile, addrA, addrB)
	var killed atomic.Bool
	lb.kill = func() {
		if killed.CompareAndSwap(false, true) {
			hqA.Process.Signal(syscall.SIGKILL)
		}
	}
	lb.killAt.Store(8)

	phone := fmt.Sprintf("phonehome: {url: 'https://%s/v1/summaries', interval: 300ms, ca_file: '%s', backoff_max: 1s}\n", lb.addr, caFile)
	type box struct {
		id, data string
		log      *logTail
	}
	var boxes []box
	for i := range 2 {
		data := t.TempDir()
		_, log := startBox(t, writeConfig(t, fmt.Sprintf("site: Site %d\n%schecks: []\n", i, phone)), data)
		id, key := boxIdentity(t, data)
		// Registered through one instance, heard through both.
		registerBox(t, dataA, id, key)
		boxes = append(boxes, box{id, data, log})
	}
	out, _ := outpost(t, "hq", "list", "--data", dataB)
	for _, b := range boxes {
		if !strings.Contains(out, b.id) {
			t.Fatalf("instance B does not list box %s registered through A:\n%s", b.id, out)
		}
	}

	waitFor(t, "instance A to be killed mid-request", patience, func() string {
		if !killed.Load() {
			return fmt.Sprintf("%d requests to A so far\nA:\n%s", lb.toFirst.Load(), logA.String())
		}
		return ""
	})
	hqA.Wait()
	// B alone carries on, then A comes back on the same database.
	before := lb.hits[1].Load()
	waitFor(t, "B to take summaries while A is down", patience, func() string {
		if lb.hits[1].Load() < before+4 {
			return fmt.Sprintf("B answered %d since the kill\nB:\n%s", lb.hits[1].Load()-before, logB.String())
		}
		return ""
	})
	_, logA = startHQPostgres(t, dataA, addrA, certFile, keyFile, envA, flagsA...)
	restarted := lb.hits[0].Load()
	waitFor(t, "A to take summaries again", patience, func() string {
		if lb.hits[0].Load() < restarted+4 {
			return fmt.Sprintf("A answered %d since its restart\nA:\n%s", lb.hits[0].Load()-restarted, logA.String())
		}
		return ""
	})
	lb.mu.Lock()
	failures := strings.Join(lb.failures, "\n")
	lb.mu.Unlock()
	if !strings.Contains(failures, "backend 0") {
		t.Fatalf("the kill did not cut a request that had reached A; balancer failures:\n%s", failures)
	}

	for _, b := range boxes {
		st := waitDrained(t, b.data, 20, b.log)
		// The box keeps phoning home meanwhile: one query reads every
		// figure, and more summaries than the box had acknowledged when
		// it drained are fine, as long as they are 1..N, once each, in
		// order.
		row := pg.SQL(t, db, fmt.Sprintf("SELECT count(*), count(DISTINCT seq), min(seq), max(seq), string_agg(seq::text, ',' ORDER BY received, seq) FROM hq_summaries WHERE box = '%s'", b.id))
		f := strings.Split(row, "|")
		if len(f) != 5 {
			t.Fatalf("box %s: %q", b.id, row)
		}
		n, _ := strconv.ParseUint(f[0], 10, 64)
		if want := fmt.Sprintf("%d|%d|1|%d", n, n, n); strings.Join(f[:4], "|") != want || n < st.LastAck {
			t.Errorf("box %s: summaries in the database (count|distinct|min|max) %s, want %s with at least %d", b.id, strings.Join(f[:4], "|"), want, st.LastAck)
		}
		var seqs []string
		for s := uint64(1); s <= n; s++ {
			seqs = append(seqs, strconv.FormatUint(s, 10))
		}
		if f[4] != strings.Join(seqs, ",") {
			t.Errorf("box %s: summaries received in the order %s", b.id, f[4])
		}
		for _, data := range []string{dataA, dataB} {
			out, _ := outpost(t, "hq", "list", "--data", data)
			line := ""
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, b.id) {
					line = l
				}
			}
			// BOX SITE SEEN(2) SUMMARY(2) LAST SEQ SUMMARIES DUPLICATES LOST CRITICAL OPEN CONFLICTS MISSING PENDING
			f := strings.Fields(line)
			if len(f) < 12 || f[len(f)-3] != "0" {
				t.Errorf("box %s as %s lists it (conflicts must be 0):\n%s", b.id, data, out)
			}
		}
	}
	for name, l := range map[string]*logTail{"A": logA, "B": logB} {
		if strings.Contains(l.String(), pg.Password) {
			t.Errorf("instance %s logged the database password:\n%s", name, l.String())
		}
	}
}

// TestHQMigrateToPostgres: a real hq on bbolt with a real box's history,
// an account and a command still pending is stopped and `outpost hq
// migrate` copies it into a real PostgreSQL. hq on the database then
// lists the same box, history and command as before, the box phones
// home to it and carries on where it was (the next sequence numbers,
// the command delivered and confirmed, no conflict), the account logs
// in, and a second migration into the now full database is refused.
func TestHQMigrateToPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	db := pg.NewDatabase(t)
	dir := t.TempDir()
	caFile, certFile, keyFile, _ := testCA(t, dir, "hq")
	hqData, boxData := t.TempDir(), t.TempDir()
	addr := freePort(t)
	hqBolt, _ := startHQLog(t, hqData, addr, "127.0.0.1:0", certFile, keyFile)
	phone := fmt.Sprintf("phonehome: {url: 'https://%s/v1/summaries', interval: 300ms, ca_file: '%s', backoff_max: 1s}\n", addr, caFile)
	cfg := writeConfig(t, "site: Acme\n"+phone+"checks: []\n")
	box, boxLog := startBox(t, cfg, boxData)
	id, key := boxIdentity(t, boxData)
	registerBox(t, hqData, id, key)
	st := waitDrained(t, boxData, 6, boxLog)
	kill(box)
	add := exec.Command(binPath, "hq", "user", "add", "alice", "--data", hqData)
	add.Stdin = strings.NewReader("Correct-Horse-9\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("hq user add: %v %s", err, out)
	}
	if out, code := outpost(t, "hq", "send", "--box", id, "--inventory", "--data", hqData); code != 0 {
		t.Fatalf("hq send: %s", out)
	}
	if out, code := outpost(t, "hq", "token", "add", "psa", "--data", hqData); code != 0 {
		t.Fatalf("hq token add: %s", out)
	}
	before, _ := outpost(t, "hq", "list", "--box", id, "--history", "1000", "--data", hqData)
	if !strings.Contains(before, "pending") || !strings.Contains(before, fmt.Sprintf("(seq %d)", st.LastAck)) {
		t.Fatalf("hq list --box on bbolt:\n%s", before)
	}
	hqBolt.Process.Signal(syscall.SIGTERM)
	hqBolt.Wait()

	toFile := filepath.Join(dir, "to")
	os.WriteFile(toFile, []byte(pg.URL(db)), 0o644)
	if out, code := outpost(t, "hq", "migrate", "--from", hqData, "--to-file", toFile); code != 1 || !strings.Contains(out, "readable by others") {
		t.Fatalf("migrate with a URL file others can read: %d %s", code, out)
	}
	os.Chmod(toFile, 0o600)
	out, code := outpost(t, "hq", "migrate", "--from", hqData, "--to-file", toFile)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("copied 1 boxes, %d summaries", st.LastAck)) || !strings.Contains(out, "1 pending commands, 1 accounts") {
		t.Fatalf("hq migrate: %d %s", code, out)
	}
	if strings.Contains(out, pg.Password) {
		t.Fatalf("hq migrate printed the password:\n%s", out)
	}

	pgData := t.TempDir()
	startHQPostgres(t, pgData, addr, certFile, keyFile, nil, "--db-file", toFile)
	after, _ := outpost(t, "hq", "list", "--box", id, "--history", "1000", "--data", pgData)
	if after != before {
		t.Fatalf("hq list --box differs after the migration:\nbefore (bbolt):\n%s\nafter (PostgreSQL):\n%s", before, after)
	}
	if out, _ := outpost(t, "hq", "user", "list", "--data", pgData); !strings.Contains(out, "alice") {
		t.Fatalf("hq user list on PostgreSQL:\n%s", out)
	}
	if out, _ := outpost(t, "hq", "token", "list", "--data", pgData); !strings.Contains(out, "psa") {
		t.Fatalf("hq token list on PostgreSQL:\n%s", out)
	}

	_, boxLog = startBox(t, cfg, boxData)
	waitDrained(t, boxData, st.LastAck+3, boxLog)
	waitFor(t, "the command queued before the migration to be confirmed", patience, func() string {
		out, _ := outpost(t, "hq", "list", "--box", id, "--data", pgData)
		if !strings.Contains(out, "done (summary") {
			return out
		}
		return ""
	})
	final := phoneStatusOf(t, boxData)
	rows := pg.SQL(t, db, fmt.Sprintf("SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM hq_summaries WHERE box = '%s'", id))
	if want := fmt.Sprintf("%d|%d|1|%d", final.LastAck, final.LastAck, final.LastAck); rows != want {
		t.Fatalf("summaries in the database after the box carried on: %s, want %s", rows, want)
	}
	if n := pg.SQL(t, db, "SELECT count(*) FROM hq_boxes WHERE convert_from(record, 'UTF8')::jsonb->>'conflicts' IS NOT NULL"); n != "0" {
		t.Fatalf("conflicts recorded after the migration: %s", n)
	}
	if out, code := outpost(t, "hq", "migrate", "--from", hqData, "--to-file", toFile); code != 1 || !strings.Contains(out, "already holds 1 boxes") {
		t.Fatalf("a second migration into the full database: %d %s", code, out)
	}
}

// TestHQWatcherFailsOver: two real hq instances on one real PostgreSQL,
// both with --notify; one of them leads the watcher. It is SIGKILLed;
// the other takes the lead (the database let go of the dead session's
// lock), and when a real box phoning home through the balancer stops,
// the survivor mails that it is silent.
func TestHQWatcherFailsOver(t *testing.T) {
	pg := pgtest.Start(t)
	db := pg.NewDatabase(t)
	mb := newMailbox(t)
	dir := t.TempDir()
	caFile, certFile, keyFile, cert := testCA(t, dir, "hq")
	dbFile := filepath.Join(dir, "db-url")
	os.WriteFile(dbFile, []byte(pg.URL(db)), 0o600)
	notifyFile := filepath.Join(dir, "hq-notify.yaml")
	os.WriteFile(notifyFile, []byte(fmt.Sprintf(`site: Acme MSP
notify:
  channels:
    - {name: mail, kind: email, options: {server: '%s', security: none, from: 'Outpost HQ <hq@msp.test>', to: [oncall@msp.test]}}
  policies:
    - {name: boxes, checks: [silent], steps: [{after: 0s, channels: [mail]}]}
`, mb.addr)), 0o600)
	type instance struct {
		cmd  *exec.Cmd
		log  *logTail
		data string
		addr string
	}
	var hqs []instance
	for range 2 {
		data, addr := t.TempDir(), freePort(t)
		cmd, log := startHQPostgres(t, data, addr, certFile, keyFile, nil, "--db-file", dbFile, "--notify", notifyFile, "--watch-every", "200ms")
		hqs = append(hqs, instance{cmd, log, data, addr})
	}
	const leads = "this instance runs the watcher"
	leader := -1
	waitFor(t, "one instance to lead the watcher", patience, func() string {
		for i, h := range hqs {
			if strings.Contains(h.log.String(), leads) {
				leader = i
				return ""
			}
		}
		return "no leader yet:\n" + hqs[0].log.String() + "\n" + hqs[1].log.String()
	})
	other := hqs[1-leader]
	if strings.Contains(other.log.String(), leads) {
		t.Fatalf("both instances lead:\n%s\n%s", hqs[0].log.String(), other.log.String())
	}
	lb := newBalancer(t, cert, caFile, hqs[0].addr, hqs[1].addr)
	boxData := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf("site: Acme Dental\nphonehome: {url: 'https://%s/v1/summaries', interval: 1s, ca_file: '%s', backoff_max: 1s}\nchecks: []\n", lb.addr, caFile))
	box, boxLog := startBox(t, cfg, boxData)
	id, key := boxIdentity(t, boxData)
	registerBox(t, other.data, id, key)
	waitDrained(t, boxData, 2, boxLog)

	hqs[leader].cmd.Process.Signal(syscall.SIGKILL)
	hqs[leader].cmd.Wait()
	waitFor(t, "the surviving instance to take the lead", patience, func() string {
		if !strings.Contains(other.log.String(), leads) {
			return other.log.String()
		}
		return ""
	})
	kill(box)
	silent := regexp.MustCompile(`(?m)^Subject: \[Acme Dental\] #\d+ silent on ` + id + `: CRITICAL box silent since`)
	waitFor(t, "the survivor to mail that the box went silent", patience, func() string {
		if mb.find(silent) == "" {
			return "mail so far:\n" + mb.all() + "\nsurvivor:\n" + other.log.String()
		}
		return ""
	})
}
