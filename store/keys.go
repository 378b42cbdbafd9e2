package store

import (
	"encoding/binary"
	"time"
)

// Keys are 8-byte big-endian Unix milliseconds, so bbolt's byte order is
// time order and range scans are Seek(from) ... bytes.Compare(k, to) <= 0.

// timeKey encodes t as a key.
func timeKey(t time.Time) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixMilli()))
	return b[:]
}

// keyTime decodes a key made by timeKey (or a longer key that starts with
// one, such as a change key with a sequence suffix).
func keyTime(k []byte) time.Time {
	if len(k) < 8 {
		return time.Time{}
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(k[:8])))
}

// seqKey is a time key plus a 4-byte sequence, for series where two
// entries may share a millisecond (status changes, events).
func seqKey(t time.Time, seq uint32) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint64(b, uint64(t.UnixMilli()))
	binary.BigEndian.PutUint32(b[8:], seq)
	return b
}

// u64Key encodes a counter (config versions).
func u64Key(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// dayStart is the UTC midnight at or before t: rollup blocks cover one
// UTC day each.
func dayStart(t time.Time) time.Time {
	u := t.UTC()
	return time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
}
