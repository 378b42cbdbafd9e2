package backup_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"outpost/checks"
	"outpost/checks/backup"
	"outpost/checks/clock"
	"outpost/store"
)

// pingBox serves the ping endpoint over a real store in a temp dir, with
// one configured job (jobID), on 127.0.0.1.
type pingBox struct {
	srv    *httptest.Server
	store  *store.Store
	clock  *clock.Fake
	mu     sync.Mutex
	pinged []checks.BackupPing
}

func newPingBox(t *testing.T) *pingBox {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "outpost.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &pingBox{store: st, clock: clock.NewFake(time.Date(2031, 2, 3, 2, 0, 0, 0, time.UTC))}
	job := jobOf(t, "{uuid: "+jobID+", period: 24h}")
	h := backup.NewHandler(backup.HandlerOptions{
		Store: st, Clock: b.clock,
		Jobs: func(id string) (backup.Job, bool) { return job, id == jobID },
		Pinged: func(j backup.Job, p checks.BackupPing) {
			b.mu.Lock()
			b.pinged = append(b.pinged, p)
			b.mu.Unlock()
		},
	})
	mux := http.NewServeMux()
	mux.Handle(backup.PathPrefix, h)
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

func (b *pingBox) url(rest string) string { return b.srv.URL + "/ping/" + rest }

func (b *pingBox) pings(t *testing.T) []checks.BackupPing {
	t.Helper()
	ps, err := b.store.BackupPings(jobID, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// curl runs the real curl as a backup script would, failing on HTTP errors
// (-f), and returns what it printed.
func curl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-fsS", "--max-time", "60"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestCurlPings sends what restic, Veeam or PowerShell scripts send with
// curl: start, success with a log body, an exit status from $?, HEAD and
// GET, a log, a PUT, a form-encoded body (curl -d, Invoke-WebRequest
// -Body) and a run id; each is kept with its signal, exit status, output
// and the run's duration.
func TestCurlPings(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed (Debian package curl)")
	}
	b := newPingBox(t)
	logFile := filepath.Join(t.TempDir(), "restic.log")
	os.WriteFile(logFile, []byte("open repository\r\nsnapshot 1a2b3c4d saved\r\n"), 0o644)

	if out := curl(t, b.url(jobID+"/start")); out != "OK" {
		t.Fatalf("start answered %q", out)
	}
	b.clock.Advance(3*time.Minute + 12*time.Second)
	curl(t, "--data-binary", "@"+logFile, b.url(strings.ToUpper(jobID)))
	b.clock.Advance(time.Hour)
	curl(t, "-X", "POST", "--data-raw", "Fatal: unable to open config file: no such file", b.url(jobID+"/1"))
	b.clock.Advance(time.Minute)
	curl(t, "-I", b.url(jobID+"/0"))
	curl(t, "-G", b.url(jobID+"/log"))
	curl(t, "-X", "PUT", "--data-binary", "verify 50%", b.url(jobID+"/log"))
	curl(t, "-d", "job=Veeam&result=Failed", b.url(jobID+"/fail"))
	rid := "aaaaaaaa-0000-4000-8000-000000000001"
	curl(t, b.url(jobID+"/start?rid="+rid))
	b.clock.Advance(90 * time.Second)
	curl(t, b.url(jobID+"/0?rid="+rid))

	ps := b.pings(t)
	want := []struct {
		sig    checks.BackupSignal
		exit   int // -1: none
		method string
		out    string
		dur    time.Duration
	}{
		{checks.BackupStart, -1, "GET", "", 0},
		{checks.BackupSuccess, -1, "POST", "open repository\nsnapshot 1a2b3c4d saved\n", 3*time.Minute + 12*time.Second},
		{checks.BackupFail, 1, "POST", "Fatal: unable to open config file: no such file", 0},
		{checks.BackupSuccess, 0, "HEAD", "", 0},
		{checks.BackupLog, -1, "GET", "", 0},
		{checks.BackupLog, -1, "PUT", "verify 50%", 0},
		{checks.BackupFail, -1, "POST", "job=Veeam&result=Failed", 0},
		{checks.BackupStart, -1, "GET", "", 0},
		{checks.BackupSuccess, 0, "GET", "", 90 * time.Second},
	}
	if len(ps) != len(want) {
		t.Fatalf("kept %d pings, want %d: %+v", len(ps), len(want), ps)
	}
	for i, w := range want {
		p := ps[i]
		exit := -1
		if p.Exit != nil {
			exit = *p.Exit
		}
		if p.Signal != w.sig || exit != w.exit || p.Method != w.method || p.Output != w.out || p.Duration != w.dur || p.Source != "127.0.0.1" || !strings.HasPrefix(p.UserAgent, "curl/") {
			t.Errorf("ping %d: %+v, want %+v", i, p, w)
		}
	}
	if ps[8].RunID != rid {
		t.Errorf("run id not kept: %+v", ps[8])
	}
	st, err := b.store.BackupJob(jobID, b.clock.Now())
	if err != nil || st.Pings != 9 || st.LastSuccess == nil || st.LastSuccess.Duration != 90*time.Second || st.LastFailure == nil || st.LastFailure.Output != "job=Veeam&result=Failed" {
		t.Fatalf("state %+v, %v", st, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pinged) != 9 {
		t.Fatalf("Pinged told of %d pings", len(b.pinged))
	}
}

// TestGarbageIsRefusedClearly: what is not a ping of a configured job gets
// a status and a message saying what was expected, and nothing is kept.
func TestGarbageIsRefusedClearly(t *testing.T) {
	b := newPingBox(t)
	other := "11111111-2222-4333-8444-555555555555"
	cases := []struct {
		name, method, path string
		code               int
		msg                string
	}{
		{"not a uuid", "GET", "/ping/nightly", 400, `"nightly" is not a UUID`},
		{"nil uuid", "GET", "/ping/00000000-0000-0000-0000-000000000000", 400, "the nil UUID is not a secret"},
		{"unknown uuid", "POST", "/ping/" + other, 404, "not found: no backup job on this box has this UUID"},
		{"unknown uuid fail", "GET", "/ping/" + other + "/fail", 404, "not found"},
		{"exit too big", "GET", "/ping/" + jobID + "/256", 400, "exit status 256 is out of range (0 to 255)"},
		{"exit negative", "GET", "/ping/" + jobID + "/-1", 400, `"-1" is not a ping action`},
		{"exit huge", "GET", "/ping/" + jobID + "/99999999999999999999", 400, "is not a ping action"},
		{"unknown action", "GET", "/ping/" + jobID + "/finish", 400, `"finish" is not a ping action: expected /ping/<uuid> (success), /ping/<uuid>/start`},
		{"extra segment", "GET", "/ping/" + jobID + "/start/now", 400, `"start/now" is not a ping action`},
		{"trailing slash", "GET", "/ping/" + jobID + "/", 400, `"" is not a ping action`},
		{"no uuid", "GET", "/ping/", 400, `"" is not a UUID`},
		{"bad rid", "GET", "/ping/" + jobID + "?rid=run-1", 400, `rid: "run-1" is not a UUID`},
		{"two rids", "GET", "/ping/" + jobID + "?rid=" + other + "&rid=" + other, 400, "rid is given more than once"},
		{"bad query", "GET", "/ping/" + jobID + "?rid=%zz", 400, "the query is not URL-encoded"},
		{"method", "DELETE", "/ping/" + jobID, 405, "method DELETE not allowed: ping with GET, POST, PUT or HEAD"},
		{"escaped slash", "GET", "/ping/" + jobID + "%2Fstart%2F..", 400, "is not a ping action"},
		{"control bytes", "GET", "/ping/%1b%5b2J" + strings.Repeat("a", 33), 400, "is not a UUID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, b.srv.URL+c.path, strings.NewReader("ignored"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code || !strings.Contains(string(body), c.msg) {
				t.Fatalf("%s %s: %d %q, want %d with %q", c.method, c.path, resp.StatusCode, body, c.code, c.msg)
			}
			if bytes.ContainsRune(body, 0x1b) {
				t.Fatalf("the answer echoes an escape: %q", body)
			}
			if c.code == 405 && resp.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
	if ps := b.pings(t); len(ps) != 0 {
		t.Fatalf("garbage was kept: %+v", ps)
	}
	// Raw requests that net/http's client would not send.
	for _, raw := range []string{
		"GET /ping/" + jobID + "/start HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
		"POST /ping/" + jobID + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET /ping/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		c, err := net.Dial("tcp", b.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(time.Minute))
		io.WriteString(c, raw)
		reply, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(reply, "HTTP/1.1 ") || strings.HasPrefix(reply, "HTTP/1.1 200") {
			t.Errorf("raw request %q answered 200:\n%s", raw, reply)
		}
	}
	if ps := b.pings(t); len(ps) != 0 {
		t.Fatalf("garbage was kept: %+v", ps)
	}
}

// TestBodiesAreBounded: a huge body is read up to MaxBody and only its
// tail kept; terminal escapes and invalid UTF-8 never reach the store.
func TestBodiesAreBounded(t *testing.T) {
	b := newPingBox(t)
	huge := bytes.Repeat([]byte("borg: chunk processed\n"), 3*backup.MaxBody/22)
	resp, err := http.Post(b.url(jobID+"/fail"), "text/plain", bytes.NewReader(huge))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "OK" {
		t.Fatalf("huge body: %d %q", resp.StatusCode, body)
	}
	hostile := "ok\x1b]0;pwned\x07\x1b[2J\xff\xfe\u202eevil\r\nend\x00"
	if _, err := http.Post(b.url(jobID+"/log"), "text/plain", strings.NewReader(hostile)); err != nil {
		t.Fatal(err)
	}
	ps := b.pings(t)
	if len(ps) != 2 {
		t.Fatalf("pings: %d", len(ps))
	}
	if o := ps[0].Output; len(o) > checks.BackupOutputMax || !strings.HasPrefix(o, "…") || !strings.HasSuffix(o, fmt.Sprintf("[the body was over %d bytes: the rest was not read]", backup.MaxBody)) || ps[0].BodyBytes != backup.MaxBody+1 || ps[0].Signal != checks.BackupFail {
		t.Fatalf("huge body kept as %d bytes (body %d): %q...%q", len(o), ps[0].BodyBytes, o[:40], o[len(o)-80:])
	}
	o := ps[1].Output
	if !utf8.ValidString(o) || strings.ContainsAny(o, "\x1b\x07\x00\r\u202e") || strings.Contains(o, "pwned") || strings.Contains(o, "[2J") ||
		!strings.HasPrefix(o, "ok\uFFFD") || !strings.HasSuffix(o, "evil\nend\uFFFD") {
		t.Fatalf("hostile body kept as %q", o)
	}
}

// TestPingsAreRateLimited: a source gets its burst, then one ping every
// two seconds; another address is not held back by it.
func TestPingsAreRateLimited(t *testing.T) {
	b := newPingBox(t)
	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	for i := range backup.PerSourceBurst {
		if code, body := get(b.url("garbage")); code != 400 {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	code, body := get(b.url(jobID))
	if code != 429 || !strings.Contains(body, "too many pings from 127.0.0.1/32: at most 30 in a burst, then one every 2s") {
		t.Fatalf("over the burst: %d %q", code, body)
	}
	if ps := b.pings(t); len(ps) != 0 {
		t.Fatalf("a refused ping was kept: %+v", ps)
	}
	b.clock.Advance(2 * time.Second)
	if code, body := get(b.url(jobID)); code != 200 {
		t.Fatalf("after 2s: %d %q", code, body)
	}
	if code, _ := get(b.url(jobID)); code != 429 {
		t.Fatalf("second ping within 2s: %d", code)
	}
	// IPv6 loopback is another source, where the machine has one.
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Logf("no IPv6 loopback here: %v", err)
		return
	}
	srv := &http.Server{Handler: b.srv.Config.Handler}
	go srv.Serve(ln)
	defer srv.Close()
	if code, body := get("http://" + ln.Addr().String() + "/ping/" + jobID); code != 200 {
		t.Fatalf("from ::1: %d %q", code, body)
	}
}

func TestNewIDIsARandomUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := backup.NewID()
		got, err := backup.ParseID(id)
		if err != nil || got != id || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) || seen[id] {
			t.Fatalf("NewID %q: %v", id, err)
		}
		seen[id] = true
	}
}
