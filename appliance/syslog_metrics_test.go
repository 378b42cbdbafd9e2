package appliance

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"outpost/checks/syslog"
	"outpost/store"
)

// The syslog collector reports the receiver's counters and the store's
// log usage, by name and reason.
func TestSyslogCollector(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "o.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := syslog.New(syslog.Options{UDP: "127.0.0.1:0", OnEvent: st.AppendEvent, Logf: func(string, ...any) {},
		Policy: syslog.Policy{Devices: []syslog.Device{{Name: "gw", Address: "127.0.0.1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	a := &Appliance{store: st, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a.logs.recv = r
	udp, _, _ := r.Addrs()
	c, err := net.Dial("udp", udp.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("<13>Mar  4 11:59:58 gw app: one"))
	c.Write([]byte("\n"))
	deadline := time.Now().Add(90 * time.Second)
	for r.Stats().Datagrams < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan prometheus.Metric, 100)
	syslogCollector{a}.Collect(ch)
	close(ch)
	got := map[string]float64{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		name := m.Desc().String()
		for _, l := range pb.Label {
			name += "/" + l.GetValue()
		}
		v := pb.GetCounter().GetValue() + pb.GetGauge().GetValue()
		for _, key := range []string{"outpost_syslog_accepted_total", "outpost_syslog_datagrams_total", "outpost_store_log_lines"} {
			if strings.Contains(name, `fqName: "`+key+`"`) {
				got[key] = v
			}
		}
		if strings.Contains(name, `fqName: "outpost_syslog_dropped_total"`) && pb.Label[0].GetValue() == syslog.DropEmpty {
			got["empty"] = v
		}
	}
	if got["outpost_syslog_accepted_total"] != 1 || got["outpost_syslog_datagrams_total"] != 2 || got["outpost_store_log_lines"] != 1 || got["empty"] != 1 {
		t.Fatalf("metrics: %v", got)
	}
}
