package hq

import (
	"encoding/binary"
	"errors"
	"time"

	"outpost/appliance/phonehome/wire"
)

// Buckets. Per box, summaries/<id> and index/<id> share their keys
// (seqKey): the body as the box sent it, and what the receiver knows of
// it without decoding it again.
var (
	bucketBoxes     = []byte("boxes")     // box id -> Box (JSON)
	bucketSummaries = []byte("summaries") // box id -> (seq -> gzip'd summary as sent)
	bucketIndex     = []byte("index")     // box id -> (seq -> entry)
	bucketLatest    = []byte("latest")    // box id -> the newest summary's digest (JSON)
	bucketCommands  = []byte("commands")  // box id -> (command id -> pending wire.Command, JSON)
	bucketUsers     = []byte("users")     // name -> hqui.User (JSON)
	bucketSessions  = []byte("sessions")  // SHA-256 of the token -> hqui.Session (JSON)
	bucketMeta      = []byte("meta")      // "layout" -> layoutVersion
	bucketDocs      = []byte("docs")      // kind -> (id -> document): alerts, notify's states, outbox, log
)

// layoutVersion 2 added index and latest, 3 numbered commands; Open
// brings a store written before up to it (migrate).
const layoutVersion = "3"

// seqKey is 8 bytes big-endian, so byte order is sequence order.
func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func keySeq(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

// entry is one stored summary's index row: the SHA-256 of the body as
// sent (what duplicates and conflicts are judged by), when the receiver
// stored it (retention goes by the receiver's clock), its size (the
// per-box byte quota), and the figures a history row shows.
type entry struct {
	Hash     [32]byte
	Received time.Time
	Size     uint32
	Time     time.Time
	Health   wire.Health
	Open     int
	Closed   int
	Reason   string
}

const entryFixed = 32 + 8 + 4 + 8 + 8*4

func putU32(b []byte, n int) []byte {
	return binary.BigEndian.AppendUint32(b, uint32(min(max(n, 0), 1<<31)))
}

func unixNano(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}

func fromUnixNano(n uint64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n)).UTC()
}

// marshal is a fixed binary layout: a history page reads 200 of these
// without a JSON decoder.
func (e entry) marshal() []byte {
	b := make([]byte, 0, entryFixed+len(e.Reason))
	b = append(b, e.Hash[:]...)
	b = binary.BigEndian.AppendUint64(b, unixNano(e.Received))
	b = binary.BigEndian.AppendUint32(b, e.Size)
	b = binary.BigEndian.AppendUint64(b, unixNano(e.Time))
	h := e.Health
	for _, n := range []int{h.Checks, h.OK, h.Warning, h.Critical, h.Unknown, h.Pending, e.Open, e.Closed} {
		b = putU32(b, n)
	}
	return append(b, e.Reason...)
}

func unmarshalEntry(b []byte) (entry, error) {
	var e entry
	if len(b) < entryFixed {
		return e, errors.New("index entry too short")
	}
	copy(e.Hash[:], b)
	e.Received = fromUnixNano(binary.BigEndian.Uint64(b[32:]))
	e.Size = binary.BigEndian.Uint32(b[40:])
	e.Time = fromUnixNano(binary.BigEndian.Uint64(b[44:]))
	var n [8]int
	for i := range n {
		n[i] = int(binary.BigEndian.Uint32(b[52+4*i:]))
	}
	e.Health = wire.Health{Checks: n[0], OK: n[1], Warning: n[2], Critical: n[3], Unknown: n[4], Pending: n[5]}
	e.Open, e.Closed = n[6], n[7]
	e.Reason = string(b[entryFixed:])
	return e, nil
}
