package report

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"outpost/checks"
	"outpost/checks/forecast"
	"outpost/checks/incident"
)

type benchSource struct {
	memSource
	buckets []forecast.Bucket
}

func (b benchSource) ValueBuckets(string, time.Duration, time.Time, time.Time) ([]forecast.Bucket, error) {
	return b.buckets, nil
}

// BenchmarkReport500Devices: a month of a 500-device site (1,500 checks,
// 10 outages each, 300 incidents, 500 disk series with 30 days of hourly
// rollups), built and rendered as a PDF. The store's reads are not in it.
func BenchmarkReport500Devices(b *testing.B) {
	src := benchSource{memSource: memSource{changes: map[string][]Change{}}}
	var specs []checks.Spec
	for d := 0; d < 500; d++ {
		dev := fmt.Sprintf("dev%03d", d)
		for _, k := range []string{"ping", "tcp", "disk"} {
			id := dev + "-" + k
			specs = append(specs, checks.Spec{ID: id, Kind: k, Target: "/", Labels: checks.Labels{Device: dev, Group: fmt.Sprintf("g%d", d%5)}, Options: checks.NoOptions{}})
			chs := []Change{{Time: mFrom.Add(-time.Hour), To: checks.OK}}
			for o := 0; o < 10; o++ {
				at := mFrom.Add(time.Duration(o*70+d%60) * time.Hour)
				chs = append(chs, Change{Time: at, To: checks.Critical}, Change{Time: at.Add(time.Duration(5+d%20) * time.Minute), To: checks.OK})
			}
			src.changes[id] = chs
		}
	}
	for i := 0; i < 300; i++ {
		o := mFrom.Add(time.Duration(i*2) * time.Hour)
		a, r := o.Add(5*time.Minute), o.Add(40*time.Minute)
		src.incs = append(src.incs, incident.Incident{ID: uint64(i + 1), Check: specs[i].ID, Severity: checks.SeverityCritical, State: incident.Resolved, Opened: o, Acked: &a, Resolved: &r, Resolution: incident.ByTechnician,
			Timeline: []incident.Event{{Time: o, Kind: incident.Detected, Text: "critical"}, {Time: a, Kind: incident.Ack, Text: "ack"}, {Time: r, Kind: incident.Resolve, Text: "resolved"}}})
	}
	for h := -30 * 24; h <= 0; h++ {
		v := 60 + float64(h)/48
		src.buckets = append(src.buckets, forecast.Bucket{Start: mTo.Add(time.Duration(h) * time.Hour), Mean: v, Min: v, Max: v, Count: 12})
	}
	b.ReportAllocs()
	size := 0
	for b.Loop() {
		r, err := Build(src, Options{Site: "big", From: mFrom, To: mTo, Now: mTo, Label: "2031-11", Checks: specs})
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WritePDF(&buf, r); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size), "pdf-bytes")
}
