package phonehome_test

import (
	"context"
	"crypto/ed25519"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"outpost/appliance/config"
	"outpost/appliance/hq"
	"outpost/appliance/phonehome"
	"outpost/appliance/phonehome/wire"
	"outpost/firmware/bundle"
	"outpost/firmware/identity"
	"outpost/firmware/provision"
	"outpost/store"
)

type rig struct {
	st    *store.Store
	id    *identity.Identity
	prov  *provision.Provisioner
	hq    *hq.Server
	srv   *httptest.Server
	phone *phonehome.Phone
	mu    sync.Mutex
	sites []string
	fw    []string
	fulls int
	acks  []wire.Ack
}

// rigAcks is the box's acknowledging side: it records each relayed
// acknowledgement and refuses one by "refuse".
type rigAcks struct{ r *rig }

func (a rigAcks) Acknowledge(c wire.Ack) (string, error) {
	a.r.mu.Lock()
	a.r.acks = append(a.r.acks, c)
	a.r.mu.Unlock()
	if c.By == "refuse" {
		return "", fmt.Errorf("acknowledge link refused: this acknowledge link is not valid")
	}
	return fmt.Sprintf("incident %d acknowledged by %s via hq (%s)", c.Incident, c.By, c.Via), nil
}

// rigAckBase is where the rig's hq serves acknowledge pages.
const rigAckBase = "https://hq.example:8444"

func newRig(t *testing.T, quota int64) *rig { t.Helper(); return newRigWith(t, quota, nil) }

// newRigWith puts wrap (when not nil) between the box and hq: a network
// that misbehaves. The box keeps what became of hq's commands in its
// store, as the daemon does.
func newRigWith(t *testing.T, quota int64, wrap func(http.Handler) http.Handler) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{}
	var err error
	if r.st, err = store.Open(filepath.Join(dir, "outpost.db"), store.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.st.Close() })
	r.id, _ = identity.Load(r.st)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r.prov = provision.New(provision.Options{Store: r.st, Identity: r.id, Log: quiet,
		Activate: func(name string, raw []byte, _ string) error {
			c, err := config.Parse(name, raw)
			if err != nil {
				return err
			}
			r.mu.Lock()
			r.sites = append(r.sites, c.Site)
			r.mu.Unlock()
			return nil
		}})
	if r.hq, err = hq.OpenWith(filepath.Join(dir, "hq.db"), hq.Options{Log: quiet, PublicURL: rigAckBase}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.hq.Close() })
	var h http.Handler = r.hq.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	r.srv = httptest.NewUnstartedServer(h)
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.srv.Certificate().Raw}), 0o644)
	if _, err := r.hq.Register(r.id.ID(), r.id.PublicKeyString(), "Acme"); err != nil {
		t.Fatal(err)
	}
	r.phone, err = phonehome.New(phonehome.Options{URL: r.srv.URL + "/v1/summaries", CAFile: ca, Interval: time.Hour, Quota: quota, BackoffMax: time.Second,
		Outbox: storeOutbox{r.st}, Commands: blobCommands{r.st}, Signer: r.id, Bundles: provBundles{r.prov}, Acks: rigAcks{r}, Log: quiet,
		Build: func(reason string, seq uint64, m phonehome.Meta, full bool) (wire.Summary, map[string]string, error) {
			s := wire.Summary{Box: wire.Box{ID: r.id.ID(), Site: "Acme", PublicKey: r.id.PublicKeyString()}}
			// Padding that gzip cannot shrink, so the quota is reached.
			s.Box.Version = string(randomText(2000))
			// Each summary reports an incident closed and a device new
			// once: what the quota must coalesce when it drops them.
			s.ClosedIncidents = []wire.Incident{{ID: seq, Check: "ping", Device: "nas", State: "resolved"}}
			s.Inventory.New = []wire.Device{{Name: fmt.Sprintf("dev-%d", seq), Checks: 1}}
			if full {
				r.mu.Lock()
				r.fulls++
				r.mu.Unlock()
				s.Inventory.Full = []wire.Device{{Name: "nas", Checks: 1}}
			}
			return s, nil, nil
		},
		OnFirmware: func(n wire.FirmwareNotice) error {
			r.mu.Lock()
			r.fw = append(r.fw, n.Version)
			r.mu.Unlock()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func randomText(n int) []byte {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	seed := uint32(time.Now().UnixNano())
	for i := range b {
		seed = seed*1664525 + 1013904223
		b[i] = letters[seed>>24%uint32(len(letters))]
	}
	return b
}

func (r *rig) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.phone.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitUntil(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for " + what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestQuotaCoalescesOldest: with the receiver down longer than the quota
// holds, the oldest summaries go, their count is kept, and the next
// summary that gets through reports the loss.
func TestQuotaCoalescesOldest(t *testing.T) {
	r := newRig(t, 12<<10) // room for a few 2 KB summaries
	r.srv.Close()          // the WAN is down
	r.run(t)
	for range 20 {
		r.phone.Kick("interval")
		time.Sleep(5 * time.Millisecond)
	}
	waitUntil(t, "the quota to drop summaries", func() bool { return r.phone.Status().Lost > 0 })
	st := r.phone.Status()
	if l := st.LostDetail; l.Total != st.Lost || l.IncidentsClosed != l.Total || l.FirstSeq != 1 {
		t.Fatalf("status shows %d lost as %+v", st.Lost, l)
	}
	if st.Bytes > 12<<10 || st.Depth == 0 || st.LastError == "" {
		t.Fatalf("outbox over quota or error not shown: %+v", st)
	}
	m, _ := r.st.PhoneMeta()
	if m.Lost+uint64(st.Depth) != m.NextSeq-1 {
		t.Fatalf("lost %d + queued %d != built %d", m.Lost, st.Depth, m.NextSeq-1)
	}
	// Counts kept: every dropped summary closed one incident and found
	// one new device; the drops are the oldest, in a row.
	if m.LostFirst != 1 || m.LostLast != m.Lost ||
		m.LostCounts["incidents_closed"] != m.Lost || m.LostCounts["inventory_new"] != m.Lost {
		t.Fatalf("coalesced figures do not match %d dropped summaries: %+v", m.Lost, m)
	}
	// Inventory changes were dropped, so a full inventory follows.
	r.mu.Lock()
	fulls := r.fulls
	r.mu.Unlock()
	if fulls == 0 && !m.InventoryDue {
		t.Fatal("inventory changes dropped but no full inventory built or due")
	}
	// What goes on the wire: the oldest queued summary reports the loss
	// as it stood when it was built.
	e, ok, err := r.st.PhoneOldest()
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	s, err := wire.Decode(e.Body)
	if err != nil {
		t.Fatal(err)
	}
	if s.Lost.Total > 0 && (s.Lost.IncidentsClosed != s.Lost.Total || s.Lost.InventoryNew != s.Lost.Total || s.Lost.FirstSeq != 1) {
		t.Fatalf("summary %d reports the loss as %+v", s.Seq, s.Lost)
	}
}

func signedBundle(t *testing.T, key ed25519.PrivateKey, version uint64, site string) []byte {
	now := time.Now()
	// One site for every bundle (a box refuses an any-box bundle for
	// another site); the config's name tells them apart.
	b, err := bundle.Make(key, bundle.Manifest{Version: version, Created: now, Expires: now.Add(time.Hour), Target: bundle.AnyBox, Site: "Acme", Config: "site: " + site + "\nchecks: []\n"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRepliesHonouredOnlyUnderPinnedKey: bundles and firmware notices in
// replies need the MSP key pinned by USB provisioning; an inventory
// request is answered with a full inventory.
func TestRepliesHonouredOnlyUnderPinnedKey(t *testing.T) {
	r := newRig(t, 1<<20)
	r.run(t)
	_, msp, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	// deliver queues a command and waits until hq has the box's word on
	// it: a summary listing its result.
	deliver := func(req hq.QueueRequest) hq.Command {
		t.Helper()
		c, err := r.hq.Queue(r.id.ID(), req)
		if err != nil {
			t.Fatal(err)
		}
		r.phone.Kick("interval")
		var got hq.Command
		waitUntil(t, fmt.Sprintf("hq to hear what became of command %d", c.ID), func() bool {
			b, _, _ := r.hq.Box(r.id.ID())
			for _, bc := range b.Commands {
				if bc.ID == c.ID && !bc.Pending() {
					got = bc
					return true
				}
			}
			return false
		})
		return got
	}
	// Not pinned: a bundle in a reply is not trusted.
	if c := deliver(hq.QueueRequest{Bundle: signedBundle(t, msp, 1, "From HQ")}); c.Result != wire.CommandRefused || !strings.Contains(c.Detail, "trusts no MSP key") {
		t.Fatalf("bundle before any key was pinned: %+v", c)
	}
	if len(r.sites) != 0 {
		t.Fatal("a bundle was applied from a reply before any MSP key was pinned")
	}
	// The key trusted at the box, a USB bundle applied: replies signed
	// with that key apply...
	if _, err := r.prov.Trust(msp.Public().(ed25519.PublicKey), false, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.prov.ApplyBundle(context.Background(), signedBundle(t, msp, 2, "From USB"), "stick"); err != nil {
		t.Fatal(err)
	}
	if c := deliver(hq.QueueRequest{Bundle: signedBundle(t, msp, 3, "From HQ")}); c.Result != wire.CommandDone || !strings.Contains(c.Detail, "bundle v3") {
		t.Fatalf("bundle signed by the pinned key: %+v", c)
	}
	// ...others do not.
	if c := deliver(hq.QueueRequest{Bundle: signedBundle(t, other, 4, "Impostor")}); c.Result != wire.CommandRefused || !strings.Contains(c.Detail, "not signed by the MSP key this box trusts") {
		t.Fatalf("bundle signed by another key: %+v", c)
	}
	r.mu.Lock()
	sites := fmt.Sprint(r.sites)
	r.mu.Unlock()
	if sites != "[From USB From HQ]" {
		t.Fatalf("applied: %v", sites)
	}
	n := wire.FirmwareNotice{Version: "1.5.0", URL: "https://updates.example/outpost-1.5.0", SHA256: "ab", Created: time.Now().Add(-time.Minute), Expires: time.Now().Add(time.Hour)}
	n.Signature = ed25519.Sign(other, n.NoticeBytes())
	if c := deliver(hq.QueueRequest{Firmware: &n}); c.Result != wire.CommandRefused {
		t.Fatalf("firmware notice signed by another key: %+v", c)
	}
	// Signed by the pinned key but expired: refused.
	expired := n
	expired.Expires = time.Now().Add(-time.Second)
	expired.Signature = ed25519.Sign(msp, expired.NoticeBytes())
	if c := deliver(hq.QueueRequest{Firmware: &expired}); c.Result != wire.CommandRefused || !strings.Contains(c.Detail, "expired at") {
		t.Fatalf("expired firmware notice: %+v", c)
	}
	n.Signature = ed25519.Sign(msp, n.NoticeBytes())
	if c := deliver(hq.QueueRequest{Firmware: &n}); c.Result != wire.CommandDone {
		t.Fatalf("firmware notice signed by the pinned key: %+v", c)
	}
	r.mu.Lock()
	fw := fmt.Sprint(r.fw)
	r.mu.Unlock()
	if fw != "[1.5.0]" {
		t.Fatalf("firmware notices taken: %v", fw)
	}
	deliver(hq.QueueRequest{Inventory: true})
	waitUntil(t, "a full inventory", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.fulls == 1 })
	sums, _ := r.hq.Summaries(r.id.ID(), 1)
	waitUntil(t, "the full inventory at hq", func() bool {
		sums, _ = r.hq.Summaries(r.id.ID(), 1)
		return len(sums) == 1 && len(sums[0].Inventory.Full) == 1
	})
}

func newTLSServer(h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	s.StartTLS()
	return s
}

// TestLastSuccessSurvivesRestart: a box restarted during an outage still
// shows when the receiver last acknowledged a summary.
func TestLastSuccessSurvivesRestart(t *testing.T) {
	r := newRig(t, 20<<20)
	r.run(t)
	waitUntil(t, "the first summary acknowledged", func() bool { return r.phone.Status().LastAck >= 1 })
	acked := r.phone.Status()
	// Another process's view: a Phone on the same store that sent nothing.
	later, err := phonehome.New(phonehome.Options{URL: r.srv.URL + "/v1/summaries", Outbox: storeOutbox{r.st}, Signer: r.id})
	if err != nil {
		t.Fatal(err)
	}
	st := later.Status()
	if st.LastAck != acked.LastAck || st.LastSuccess.IsZero() || st.LastSuccess.Sub(acked.LastSuccess).Abs() > time.Second {
		t.Fatalf("after a restart status shows last success %v (summary %d), want about %v (summary %d)", st.LastSuccess, st.LastAck, acked.LastSuccess, acked.LastAck)
	}
}

// A box restarted during an outage still says what went wrong and for how
// many attempts: the failure is kept in the store, and cleared by the
// next success.
func TestLastErrorSurvivesRestart(t *testing.T) {
	r := newRig(t, 20<<20)
	r.srv.Close() // the receiver is unreachable
	r.run(t)
	waitUntil(t, "a failed attempt", func() bool { return r.phone.Status().LastError != "" })
	failed := r.phone.Status()
	later, err := phonehome.New(phonehome.Options{URL: r.srv.URL + "/v1/summaries", Outbox: storeOutbox{r.st}, Signer: r.id})
	if err != nil {
		t.Fatal(err)
	}
	st := later.Status()
	if st.LastError == "" || st.LastError != failed.LastError || st.Failures < 1 || st.LastErrorAt.IsZero() {
		t.Fatalf("after a restart status shows error %q (%d failures at %v), want %q", st.LastError, st.Failures, st.LastErrorAt, failed.LastError)
	}
}
