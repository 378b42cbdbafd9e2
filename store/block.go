package store

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"time"
	"unicode"

	"outpost/checks"
)

// A results block packs many results of one check into one bbolt value.
// Each record is:
//
//	uvarint  milliseconds since the previous record (the first: since
//	         the block's key time)
//	byte     flags: bits 0-1 status, bit 2 has value, bit 3 detail follows,
//	         bit 4 value is raw float64 bits (else zigzag varint of
//	         value*1000)
//	uvarint  latency in microseconds
//	value    zigzag varint of round(value*1000), or 8 bytes float64 bits
//	detail   uvarint length + bytes, when the detail changed in substance
//	         (digits aside) since the previous record, and on every
//	         change of a failing result's detail
//
// A typical result costs 6 to 10 bytes, against about 170 for one bbolt
// key per result.
const (
	flagStatusMask = 0x03
	flagValue      = 0x04
	flagDetail     = 0x08
	flagFloat      = 0x10

	// A block closes when it nears one bbolt page (4 KiB less the page
	// and element headers and the key): bbolt keeps a value whole in one
	// leaf, so two 2.2 KB blocks would each take a page half empty. The
	// span limit bounds how much of a slow check's history one block holds.
	blockMaxBytes = 4000
	blockMaxSpan  = 24 * time.Hour
	maxDetail     = 512
)

// encState is what the encoder must remember between records of a block.
type encState struct {
	key      time.Time // block start
	last     time.Time // previous record time
	n        int       // records in the block
	detail   string    // detail as of the previous record
	detailSh string    // its shape (digits removed)
}

// appendRecord encodes r after the records described by st.
func appendRecord(buf []byte, st *encState, r checks.Result) []byte {
	t := r.Time.Truncate(time.Millisecond)
	if t.Before(st.last) {
		t = st.last // clocks may step back; keep the block ordered
	}
	buf = binary.AppendUvarint(buf, uint64(t.Sub(st.last)/time.Millisecond))
	st.last = t
	flags := byte(r.Status) & flagStatusMask
	var vbits []byte
	if r.HasValue {
		flags |= flagValue
		scaled := r.Value * 1000
		if !math.IsNaN(scaled) && !math.IsInf(scaled, 0) && math.Abs(scaled) < 1<<52 {
			vbits = binary.AppendVarint(nil, int64(math.Round(scaled)))
		} else {
			flags |= flagFloat
			vbits = binary.LittleEndian.AppendUint64(nil, math.Float64bits(r.Value))
		}
	}
	detail := r.Detail
	if len(detail) > maxDetail {
		detail = detail[:maxDetail]
	}
	sh := shape(detail)
	// Failures keep their exact detail; ok results only when the text
	// changes in substance (their numbers are in Value and Latency).
	writeDetail := st.n == 0 || sh != st.detailSh || (r.Status != checks.OK && detail != st.detail)
	if writeDetail {
		flags |= flagDetail
		st.detail, st.detailSh = detail, sh
	}
	buf = append(buf, flags)
	lat := r.Latency / time.Microsecond
	if lat < 0 {
		lat = 0
	}
	buf = binary.AppendUvarint(buf, uint64(lat))
	buf = append(buf, vbits...)
	if writeDetail {
		buf = binary.AppendUvarint(buf, uint64(len(detail)))
		buf = append(buf, detail...)
	}
	st.n++
	return buf
}

// shape is a detail with its digits removed: "200 OK in 3 ms" and "200 OK
// in 4 ms" have the same shape, so only the first is stored.
func shape(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) {
			return -1
		}
		return r
	}, s)
}

var errCorrupt = errors.New("corrupt results block")

// decodeBlock calls fn for each record of a block. It returns the
// encoder state at the end, so appending can go on after a restart.
func decodeBlock(key time.Time, b []byte, fn func(checks.Result) bool) (encState, error) {
	st := encState{key: key, last: key}
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 || len(b) < n+1 {
			return st, errCorrupt
		}
		b = b[n:]
		flags := b[0]
		b = b[1:]
		lat, n := binary.Uvarint(b)
		if n <= 0 {
			return st, errCorrupt
		}
		b = b[n:]
		r := checks.Result{Time: st.last.Add(time.Duration(d) * time.Millisecond), Status: checks.Status(flags & flagStatusMask), Latency: time.Duration(lat) * time.Microsecond}
		st.last = r.Time
		if flags&flagValue != 0 {
			r.HasValue = true
			if flags&flagFloat != 0 {
				if len(b) < 8 {
					return st, errCorrupt
				}
				r.Value = math.Float64frombits(binary.LittleEndian.Uint64(b))
				b = b[8:]
			} else {
				v, n := binary.Varint(b)
				if n <= 0 {
					return st, errCorrupt
				}
				r.Value = float64(v) / 1000
				b = b[n:]
			}
		}
		if flags&flagDetail != 0 {
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return st, errCorrupt
			}
			st.detail = string(b[n : n+int(l)])
			st.detailSh = shape(st.detail)
			b = b[n+int(l):]
		}
		r.Detail = st.detail
		st.n++
		if fn != nil && !fn(r) {
			return st, nil
		}
	}
	return st, nil
}
