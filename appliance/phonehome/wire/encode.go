package wire

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
)

// MaxSummary bounds a decompressed summary (the receiver refuses more).
const MaxSummary = 16 << 20

// Encode is a summary as sent: gzip'd JSON.
func Encode(s Summary) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(s); err != nil {
		return nil, fmt.Errorf("encoding summary %d: %w", s.Seq, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing summary %d: %w", s.Seq, err)
	}
	return buf.Bytes(), nil
}

// Decode reads a gzip'd summary, refusing more than MaxSummary bytes of
// JSON (no decompression bombs) and any schema but Schema.
func Decode(body []byte) (Summary, error) {
	var s Summary
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return s, fmt.Errorf("summary is not gzip: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, MaxSummary+1))
	if err != nil {
		return s, fmt.Errorf("summary gzip: %w", err)
	}
	if len(data) > MaxSummary {
		return s, fmt.Errorf("summary is over %d bytes uncompressed", MaxSummary)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("summary JSON: %w", err)
	}
	if s.Schema != Schema {
		return s, fmt.Errorf("summary schema %q; this receiver reads %q", s.Schema, Schema)
	}
	return s, nil
}
