package hq

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang/snappy"
	"google.golang.org/protobuf/encoding/protowire"
)

// Remote write: the watcher's leader pushes the fleet series (the
// per-box ones /metrics shows, and the alert counts) to the MSP's
// Prometheus-compatible store with the Prometheus remote-write protocol
// (1.0: a snappy-compressed protobuf WriteRequest), so Grafana over that
// store shows every site. One instance writes, so two never send the
// same series at once.

// RemoteWrite configures the push (`hq run --remote-write URL`).
type RemoteWrite struct {
	URL string
	// Every is how often the series are pushed (default 60s).
	Every time.Duration
	// Job is the job label every series carries (default outpost-hq).
	Job string
}

// CheckRemoteWriteURL refuses what is not an http(s) URL.
func CheckRemoteWriteURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--remote-write %q: an http(s) URL such as https://prometheus.msp.lan/api/v1/write", raw)
	}
	return nil
}

// remoteWriter sends to one endpoint.
type remoteWriter struct {
	o      RemoteWrite
	client *http.Client
}

func (s *Server) runRemoteWrite(ctx context.Context, o RemoteWrite) {
	if o.Every <= 0 {
		o.Every = time.Minute
	}
	if o.Job == "" {
		o.Job = "outpost-hq"
	}
	rw := remoteWriter{o: o, client: &http.Client{Timeout: 30 * time.Second}}
	shown := o.URL // the URL may carry a password (basic auth): logs get it redacted
	if u, err := url.Parse(o.URL); err == nil {
		shown = u.Redacted()
	}
	t := s.clock.NewTimer(0)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		samples, err := s.fleetSamples()
		if err == nil {
			err = rw.send(ctx, samples, s.clock.Now())
		}
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				s.log.Error("hq: remote write failed; trying again every interval", "url", shown, "err", err)
			}
			failing = true
		case err == nil && failing:
			s.log.Info("hq: remote write works again", "url", shown)
			failing = false
		}
		t.Reset(o.Every)
	}
}

func (rw remoteWriter) send(ctx context.Context, samples []sample, now time.Time) error {
	body := snappy.Encode(nil, encodeWriteRequest(samples, rw.o.Job, now.UnixMilli()))
	req, err := http.NewRequestWithContext(ctx, "POST", rw.o.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", "outpost-hq")
	resp, err := rw.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// encodeWriteRequest is prometheus.WriteRequest in protobuf: field 1,
// repeated TimeSeries {1: repeated Label {1: name, 2: value}, 2: repeated
// Sample {1: double value, 2: int64 timestamp ms}}; labels sorted by
// name, __name__ among them.
func encodeWriteRequest(samples []sample, job string, ts int64) []byte {
	var out []byte
	for _, m := range samples {
		labels := [][2]string{{"__name__", m.name}, {"job", job}}
		for i := 0; i+1 < len(m.labels); i += 2 {
			labels = append(labels, [2]string{m.labels[i], m.labels[i+1]})
		}
		slices.SortFunc(labels, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
		var series []byte
		for _, l := range labels {
			var lb []byte
			lb = protowire.AppendTag(lb, 1, protowire.BytesType)
			lb = protowire.AppendString(lb, l[0])
			lb = protowire.AppendTag(lb, 2, protowire.BytesType)
			lb = protowire.AppendString(lb, l[1])
			series = protowire.AppendTag(series, 1, protowire.BytesType)
			series = protowire.AppendBytes(series, lb)
		}
		var sb []byte
		sb = protowire.AppendTag(sb, 1, protowire.Fixed64Type)
		sb = protowire.AppendFixed64(sb, math.Float64bits(m.value))
		sb = protowire.AppendTag(sb, 2, protowire.VarintType)
		sb = protowire.AppendVarint(sb, uint64(ts))
		series = protowire.AppendTag(series, 2, protowire.BytesType)
		series = protowire.AppendBytes(series, sb)
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, series)
	}
	return out
}
