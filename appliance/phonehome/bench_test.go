package phonehome_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"outpost/appliance/hq"
	"outpost/appliance/phonehome"
	"outpost/appliance/phonehome/wire"
	"outpost/firmware/identity"
	"outpost/store"
)

// BenchmarkHQIngest: boxes posting signed summaries to a real hq over
// HTTPS on loopback (16 boxes at once, keep-alive), summaries per second.
func BenchmarkHQIngest(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := b.TempDir()
	srv, err := hq.Open(filepath.Join(dir, "hq.db"), nil, quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	ts := newTLSServer(srv.Handler())
	defer ts.Close()
	const boxes = 16
	type box struct {
		id   *identity.Identity
		body func(seq uint64) []byte
		seq  atomic.Uint64
	}
	var bx []*box
	for i := range boxes {
		st, err := store.Open(filepath.Join(dir, "b"+strconv.Itoa(i)+".db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		id, _ := identity.Load(st)
		st.Close()
		if _, err := srv.Register(id.ID(), id.PublicKeyString(), "Site "+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
		x := &box{id: id}
		x.body = func(seq uint64) []byte {
			s := wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: id.ID(), Site: "Site"}, Seq: seq, Time: time.Now(), Reason: "interval", Interval: 300}
			data, _ := wire.Encode(s)
			return data
		}
		bx = append(bx, x)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: boxes}}
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, x := range bx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				seq := x.seq.Add(1)
				body := x.body(seq)
				at := time.Now().UTC().Format(time.RFC3339Nano)
				req, _ := http.NewRequest("POST", ts.URL+"/v1/summaries", bytes.NewReader(body))
				req.Header.Set(wire.HeaderBox, x.id.ID())
				req.Header.Set(wire.HeaderSeq, strconv.FormatUint(seq, 10))
				req.Header.Set(wire.HeaderTime, at)
				req.Header.Set(wire.HeaderIdem, wire.IdempotencyKey(x.id.ID(), seq))
				req.Header.Set(wire.HeaderSignature, base64.StdEncoding.EncodeToString(x.id.Sign(wire.SignedBytes(x.id.ID(), seq, at, body))))
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("hq answered %s", resp.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "summaries/s")
}

// BenchmarkDrainDayBacklog: a day offline at one summary a minute (1,440
// queued), then the receiver is back: time until the outbox is empty.
func BenchmarkDrainDayBacklog(b *testing.B) {
	for range b.N {
		r := newRig(&testing.T{}, 64<<20)
		for range 1440 {
			if _, err := r.st.PhoneAppend(64<<20, time.Now().Format(time.RFC3339Nano), func(seq uint64, m store.PhoneMeta) ([]byte, map[string]string, error) {
				s := wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: r.id.ID(), Site: "Acme"}, Seq: seq, Time: time.Now(), Reason: "interval", Interval: 60}
				data, err := wire.Encode(s)
				return data, nil, err
			}, phonehome.Fold); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.phone.Run(ctx); close(done) }()
		for r.phone.Status().Depth > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s-to-drain-1440")
		cancel()
		<-done
		if st := r.phone.Status(); st.LastAck < 1440 {
			b.Fatalf("drained to ack %d", st.LastAck)
		}
	}
}
