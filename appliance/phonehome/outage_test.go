package phonehome_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome"
	"outpost/appliance/phonehome/wire"
	"outpost/checks/clock"
	"outpost/firmware/identity"
	"outpost/store"
)

// wan is the box's uplink: a TCP proxy on loopback in front of hq that,
// while down, resets every connection as it arrives.
type wan struct {
	ln    net.Listener
	to    string
	down  atomic.Bool
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func newWAN(t *testing.T, to string) *wan {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wan{ln: ln, to: to, conns: map[net.Conn]bool{}}
	w.wg.Add(1)
	go w.serve()
	t.Cleanup(func() {
		ln.Close()
		// Kept-alive connections would hold the proxy for their idle timeout.
		w.mu.Lock()
		for c := range w.conns {
			c.Close()
		}
		w.mu.Unlock()
		w.wg.Wait()
	})
	return w
}

func (w *wan) serve() {
	defer w.wg.Done()
	for {
		c, err := w.ln.Accept()
		if err != nil {
			return
		}
		if w.down.Load() {
			c.(*net.TCPConn).SetLinger(0) // a reset, as a dead uplink's router sends
			c.Close()
			continue
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			up, err := net.Dial("tcp", w.to)
			if err != nil {
				c.Close()
				return
			}
			w.track(c, up)
			defer w.untrack(c, up)
			done := make(chan struct{})
			go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); close(done) }()
			io.Copy(c, up)
			<-done
		}()
	}
}

func (w *wan) track(cs ...net.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range cs {
		w.conns[c] = true
	}
}

func (w *wan) untrack(cs ...net.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(w.conns, c)
	}
}

// outageBox is a box's data directory and the phone-home sender running
// on it, restartable as a killed process restarts.
type outageBox struct {
	t      *testing.T
	path   string
	url    string
	clk    *clock.Fake
	st     *store.Store
	id     *identity.Identity
	phone  *phonehome.Phone
	cancel context.CancelFunc
	done   chan struct{}
}

func (b *outageBox) start() {
	t := b.t
	t.Helper()
	var err error
	if b.st, err = store.Open(b.path, store.Options{}); err != nil {
		t.Fatal(err)
	}
	if b.id, err = identity.Load(b.st); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	id := b.id
	// Quota and backoff are the defaults (20 MB, 5 min): what a box runs.
	b.phone, err = phonehome.New(phonehome.Options{URL: b.url, Interval: time.Minute, Clock: b.clk,
		Outbox: storeOutbox{b.st}, Commands: blobCommands{b.st}, Signer: id, Log: quiet,
		Build: func(reason string, seq uint64, m phonehome.Meta, full bool) (wire.Summary, map[string]string, error) {
			// 2,000 bytes gzip cannot shrink: twice a 200-device site's summary.
			return wire.Summary{Box: wire.Box{ID: id.ID(), Site: "Acme", PublicKey: id.PublicKeyString(), Version: string(randomText(2000))}}, nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan struct{})
	go func() { b.phone.Run(ctx); close(b.done) }()
}

// kill closes the store under the running sender, as SIGKILL leaves it
// (what was committed stays, nothing more is written), then stops the
// sender's goroutines, which a dead process would not have.
func (b *outageBox) kill() {
	b.st.Close()
	b.cancel()
	<-b.done
}

func (b *outageBox) stop() {
	b.cancel()
	<-b.done
	b.st.Close()
}

func (b *outageBox) meta() phonehome.Meta {
	m, err := b.st.PhoneMeta()
	if err != nil {
		b.t.Fatal(err)
	}
	return phonehome.Meta(m)
}

// memDir is a temporary directory in memory when the system has one:
// about 1,500 commits per phase, each two fsyncs, take 100 s on a slow
// disk and are not what this test is about.
func memDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("/dev/shm", "outpost-outage-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// waitFor polls f until it holds, failing after ceiling.
func waitFor(t *testing.T, ceiling time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(ceiling)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for " + what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestDayLongOutage: the WAN down for a simulated 24 h while the box
// builds a summary a minute (1,440), then back: hq holds every summary
// built exactly once, in order, nothing lost to the default quota; and
// the same with the box killed 20 times during the outage.
func TestDayLongOutage(t *testing.T) {
	for _, kills := range []int{0, 20} {
		t.Run(map[int]string{0: "no kills", 20: "20 kills"}[kills], func(t *testing.T) { dayLongOutage(t, kills) })
	}
}

func dayLongOutage(t *testing.T, kills int) {
	const minutes = 1440
	dir := memDir(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// hq keeps the real clock: its upload deadlines leave the process.
	recv, err := hq.OpenWith(filepath.Join(dir, "hq.db"), hq.Options{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recv.Close() })
	// Plain HTTP on loopback: the box's fake clock must not judge a
	// certificate.
	srv := httptest.NewServer(recv.Handler())
	t.Cleanup(srv.Close)
	link := newWAN(t, srv.Listener.Addr().String())
	link.down.Store(true)

	// Across a new year, far from today: nothing depends on the date.
	t0 := time.Date(2031, 12, 31, 12, 0, 0, 0, time.UTC)
	b := &outageBox{t: t, path: filepath.Join(dir, "outpost.db"), url: "http://" + link.ln.Addr().String() + "/v1/summaries", clk: clock.NewFake(t0)}
	b.start()
	t.Cleanup(func() {
		if b.cancel != nil {
			b.stop()
		}
	})
	if _, err := recv.Register(b.id.ID(), b.id.PublicKeyString(), "Acme"); err != nil {
		t.Fatal(err)
	}
	killAt := map[int]bool{}
	for len(killAt) < kills {
		killAt[1+rand.IntN(minutes-1)] = true
	}
	// Idle: the interval timer and the backoff after a failed attempt
	// both armed, and the summary due stored.
	idle := func(seq uint64) func() bool {
		return func() bool { return b.clk.Waiters() == 2 && b.meta().NextSeq == seq+1 }
	}
	seq := uint64(1) // the start summary
	waitFor(t, 10*time.Second, "the start summary queued and tried", idle(seq))
	var peak int64
	for i := 1; i <= minutes; i++ {
		b.clk.Advance(time.Minute)
		seq++
		if killAt[i] {
			// Killed once the minute's summary is stored, wherever the
			// sender is in its attempt; the restart queues a start summary.
			waitFor(t, 10*time.Second, "the summary stored", func() bool { return b.meta().NextSeq == seq+1 })
			b.kill()
			b.start()
			seq++
		}
		waitFor(t, 10*time.Second, "the summary stored and the sender back in its backoff", idle(seq))
		if m := b.meta(); m.Bytes > peak {
			peak = m.Bytes
		}
	}
	outageEnd := b.clk.Now()
	if st := b.phone.Status(); st.Depth != int(seq) || st.Lost != 0 || st.LastError == "" || st.LastAck != 0 {
		t.Fatalf("after the outage: %d queued of %d, %d lost, last error %q, acked %d", st.Depth, seq, st.Lost, st.LastError, st.LastAck)
	}
	got, _ := recv.Seqs(b.id.ID())
	if len(got) != 0 {
		t.Fatalf("hq holds %d summaries sent through a dead WAN", len(got))
	}
	t.Logf("outage: %d summaries queued (%d after restarts), outbox peak %d bytes of the default 20 MiB quota", seq, kills, peak)

	// The WAN is back; the longest backoff passes (and a minute's
	// summary with it).
	link.down.Store(false)
	back := time.Now()
	b.clk.Advance(5 * time.Minute)
	var total uint64
	waitFor(t, 45*time.Second, "hq to hold every summary", func() bool {
		total = b.meta().NextSeq - 1
		n, _, _ := b.st.PhoneDepth()
		s, _ := recv.Seqs(b.id.ID())
		return n == 0 && uint64(len(s)) == total
	})
	took := time.Since(back)
	t.Logf("catch-up: %d summaries in %s, %.0f summaries/s", total, took.Round(time.Millisecond), float64(total)/took.Seconds())

	got, err = recv.Seqs(b.id.ID())
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("hq holds seq %d at position %d: %v…", s, i, got[:i+1])
		}
	}
	sums, err := recv.Summaries(b.id.ID(), len(got)+1)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(sums, func(i, j int) bool { return sums[i].Seq < sums[j].Seq })
	var intervals, starts int
	for i, s := range sums {
		if i > 0 && s.Time.Before(sums[i-1].Time) {
			t.Fatalf("summary %d built at %s, before summary %d (%s)", s.Seq, s.Time, sums[i-1].Seq, sums[i-1].Time)
		}
		if s.Time.After(outageEnd) {
			continue
		}
		switch s.Reason {
		case "interval":
			// One a minute, whatever restarts came between.
			intervals++
			if want := t0.Add(time.Duration(intervals) * time.Minute); !s.Time.Equal(want) {
				t.Fatalf("interval summary %d (seq %d) built at %s, want %s", intervals, s.Seq, s.Time, want)
			}
		case "start":
			starts++
		}
		if s.Lost.Total != 0 {
			t.Fatalf("summary %d reports %d lost", s.Seq, s.Lost.Total)
		}
	}
	if intervals != minutes || starts != kills+1 {
		t.Fatalf("hq holds %d interval and %d start summaries from the outage, want %d and %d", intervals, starts, minutes, kills+1)
	}
	box, _, err := recv.Box(b.id.ID())
	if err != nil {
		t.Fatal(err)
	}
	if box.Duplicates != 0 || box.Conflicts != 0 || box.Lost != 0 || box.LastSeq != total {
		t.Fatalf("hq's record: %d duplicates, %d conflicts, %d lost, last seq %d of %d", box.Duplicates, box.Conflicts, box.Lost, box.LastSeq, total)
	}
	if st := b.phone.Status(); st.LastAck != total || st.Failures != 0 {
		t.Fatalf("box status after catch-up: acked %d of %d, %d failures", st.LastAck, total, st.Failures)
	}
}
