//go:build linux

package hq_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"outpost/appliance/hq"
	"outpost/appliance/hq/pgtest"
	"outpost/appliance/phonehome/wire"
)

// benchSummary is a summary of the size a small site sends: 40 checks,
// two open incidents with their timelines, one closed.
func benchSummary(id string, seq uint64) []byte {
	now := time.Now().UTC()
	inc := func(n uint64, check string) wire.Incident {
		return wire.Incident{ID: n, Check: check, Device: "srv-" + check, Severity: "critical", State: "open", Summary: check + " on srv-" + check + " is not answering (connection refused)", Opened: now.Add(-time.Hour),
			Timeline: []wire.TimelineEntry{{Time: now.Add(-time.Hour), Text: "detected: connection refused"}, {Time: now.Add(-59 * time.Minute), Text: "notified oncall by email"}}}
	}
	s := wire.Summary{Schema: wire.Schema, Box: wire.Box{ID: id, Site: "Acme Dental, 2nd floor", Version: "1.4.0"}, Seq: seq, Time: now, Reason: "interval", Interval: 300,
		Health:        wire.Health{Checks: 40, OK: 37, Warning: 1, Critical: 2},
		OpenIncidents: []wire.Incident{inc(seq*3, "exchange"), inc(seq*3+1, "backup")}, ClosedIncidents: []wire.Incident{inc(seq*3+2, "printer")},
		BoxHealth: wire.BoxHealth{StoreBytes: 48 << 20, LatenessP99Ms: 12, UptimeSeconds: 86400}}
	b, _ := wire.Encode(s)
	return b
}

type benchBox struct {
	id   string
	priv ed25519.PrivateKey
}

func benchBoxes(b *testing.B, servers []*hq.Server, n int) []benchBox {
	var out []benchBox
	for range n {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		id := wire.BoxID(pub)
		if _, err := servers[0].Register(id, wire.FormatPublicKey(pub), "Site"); err != nil {
			b.Fatal(err)
		}
		out = append(out, benchBox{id, priv})
	}
	return out
}

type signed struct {
	box, at, sig string
	seq          uint64
	body         []byte
}

func (x benchBox) sign(seq uint64) signed {
	body := benchSummary(x.id, seq)
	at := time.Now().UTC().Format(time.RFC3339Nano)
	return signed{box: x.id, at: at, seq: seq, body: body, sig: base64.StdEncoding.EncodeToString(ed25519.Sign(x.priv, wire.SignedBytes(x.id, seq, at, body)))}
}

// BenchmarkHQPostgresIngest: two hq servers (each its own pool of
// connections, as two instances are) on one real PostgreSQL, each behind
// its own HTTPS server on loopback; 200 boxes post signed summaries,
// each box to the two in turn, 64 requests at once. The summaries are
// built and signed before the clock starts: what is measured is the
// receivers (TLS, signature check, gunzip, JSON, the database) and
// PostgreSQL, sharing the machine with the client.
func BenchmarkHQPostgresIngest(b *testing.B) {
	pg := pgtest.Start(b)
	url := pg.URL(pg.NewDatabase(b))
	var servers []*hq.Server
	var urls []string
	for range 2 {
		db, err := hq.OpenPostgres(context.Background(), url, nil)
		if err != nil {
			b.Fatal(err)
		}
		s, err := hq.OpenStore(db, hq.Options{Log: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		ts := httptest.NewUnstartedServer(s.Handler())
		ts.TLS = &tls.Config{NextProtos: []string{"http/1.1"}}
		ts.StartTLS()
		defer ts.Close()
		servers, urls = append(servers, s), append(urls, ts.URL)
	}
	benchIngest(b, servers, urls)
}

// BenchmarkHQBoltIngest is the same on one hq on bbolt, for comparison.
func BenchmarkHQBoltIngest(b *testing.B) {
	s, err := hq.OpenWith(filepath.Join(b.TempDir(), "hq.db"), hq.Options{Log: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.TLS = &tls.Config{NextProtos: []string{"http/1.1"}}
	ts.StartTLS()
	defer ts.Close()
	benchIngest(b, []*hq.Server{s}, []string{ts.URL})
}

func benchIngest(b *testing.B, servers []*hq.Server, urls []string) {
	const nboxes, conc = 200, 64
	boxes := benchBoxes(b, servers, nboxes)
	// Box i sends summaries 1, 2, …; request k goes to box k % nboxes.
	reqs := make([]signed, b.N)
	for k := range reqs {
		reqs[k] = boxes[k%nboxes].sign(uint64(k/nboxes + 1))
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: conc}}
	// One box's summaries go one after the other (as a box sends them),
	// so each box is a queue; conc workers take boxes.
	queues := make([][]signed, nboxes)
	for k, r := range reqs {
		queues[k%nboxes] = append(queues[k%nboxes], r)
	}
	var failed atomic.Int64
	var firstErr atomic.Value
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= nboxes {
					return
				}
				for j, r := range queues[i] {
					u := urls[j%len(urls)]
					req, _ := http.NewRequest("POST", u+"/v1/summaries", bytes.NewReader(r.body))
					req.Header.Set(wire.HeaderBox, r.box)
					req.Header.Set(wire.HeaderSeq, strconv.FormatUint(r.seq, 10))
					req.Header.Set(wire.HeaderTime, r.at)
					req.Header.Set(wire.HeaderIdem, wire.IdempotencyKey(r.box, r.seq))
					req.Header.Set(wire.HeaderSignature, r.sig)
					resp, err := client.Do(req)
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, body))
					}
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d summaries not stored; first: %v", n, b.N, firstErr.Load())
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "summaries/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkHQBytesPerSummary: the disk a stored summary takes in each
// backend, summary and index row together, from 20,000 summaries of 100
// boxes: bbolt's file size; PostgreSQL's tables and indexes
// (pg_total_relation_size, after VACUUM) and the write-ahead log written
// while storing them. Per box and day: 288 summaries (one every 5 min).
func BenchmarkHQBytesPerSummary(b *testing.B) {
	const nboxes, per = 100, 200
	pg := pgtest.Start(b)
	dbName := pg.NewDatabase(b)
	db, err := hq.OpenPostgres(context.Background(), pg.URL(dbName), nil)
	if err != nil {
		b.Fatal(err)
	}
	ps, _ := hq.OpenStore(db, hq.Options{Log: quiet()})
	defer ps.Close()
	path := filepath.Join(b.TempDir(), "hq.db")
	bs, err := hq.OpenWith(path, hq.Options{Log: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	for range b.N {
		boxes := benchBoxes(b, []*hq.Server{ps}, nboxes)
		for _, x := range boxes {
			k, _, _ := ps.Box(x.id)
			bs.Register(x.id, k.Key, "Site")
		}
		pg.SQL(b, dbName, "CHECKPOINT")
		walBefore := pg.SQL(b, dbName, "SELECT pg_current_wal_lsn()")
		bolt0 := fileSize(b, path)
		var body int64
		for seq := uint64(1); seq <= per; seq++ {
			for _, x := range boxes {
				r := x.sign(seq)
				body += int64(len(r.body))
				for _, s := range []*hq.Server{ps, bs} {
					if w := postSigned(s.Handler(), r); w.Code != http.StatusOK {
						b.Fatalf("%d %s", w.Code, w.Body.String())
					}
				}
			}
		}
		n := float64(nboxes * per)
		wal, _ := strconv.ParseFloat(pg.SQL(b, dbName, fmt.Sprintf("SELECT pg_current_wal_lsn() - '%s'::pg_lsn", walBefore)), 64)
		pg.SQL(b, dbName, "VACUUM ANALYZE hq_summaries")
		tables, _ := strconv.ParseFloat(pg.SQL(b, dbName, "SELECT sum(pg_total_relation_size(oid)) FROM pg_class WHERE relname IN ('hq_summaries','hq_boxes','hq_latest')"), 64)
		b.ReportMetric(float64(body)/n, "body-B/summary")
		b.ReportMetric(tables/n, "pg-B/summary")
		b.ReportMetric(tables/n*288, "pg-B/box/day")
		b.ReportMetric(wal/n, "pg-wal-B/summary")
		b.ReportMetric(float64(fileSize(b, path)-bolt0)/n, "bbolt-B/summary")
		b.ReportMetric(float64(fileSize(b, path)-bolt0)/n*288, "bbolt-B/box/day")
	}
	b.ReportMetric(0, "ns/op")
}

func fileSize(b *testing.B, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

func postSigned(h http.Handler, r signed) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/v1/summaries", bytes.NewReader(r.body))
	req.Header.Set(wire.HeaderBox, r.box)
	req.Header.Set(wire.HeaderSeq, strconv.FormatUint(r.seq, 10))
	req.Header.Set(wire.HeaderTime, r.at)
	req.Header.Set(wire.HeaderIdem, wire.IdempotencyKey(r.box, r.seq))
	req.Header.Set(wire.HeaderSignature, r.sig)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}
