package hq

import (
	"bytes"
	"math"
	"sort"
	"testing"
	"time"

	"outpost/appliance/phonehome/wire"
)

// TestSeqKeyOrder: byte order of keys is sequence order, and keys read
// back as their sequence numbers.
func TestSeqKeyOrder(t *testing.T) {
	seqs := []uint64{0, 1, 2, 255, 256, 1 << 32, math.MaxUint64 - 1, math.MaxUint64}
	keys := make([][]byte, len(seqs))
	for i, s := range seqs {
		keys[i] = seqKey(s)
		if keySeq(keys[i]) != s {
			t.Fatalf("round trip of %d: %d", s, keySeq(keys[i]))
		}
	}
	if !sort.SliceIsSorted(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 }) {
		t.Fatal("keys do not sort as their sequence numbers")
	}
}

func TestEntryRoundTrip(t *testing.T) {
	e := entry{Hash: [32]byte{1, 2, 3, 31: 9}, Received: time.Date(2031, 3, 1, 8, 0, 0, 5, time.UTC), Size: 1234,
		Time: time.Date(2031, 2, 28, 23, 59, 0, 0, time.UTC), Health: wire.Health{Checks: 10, OK: 6, Warning: 1, Critical: 2, Unknown: 1},
		Open: 3, Closed: 1, Reason: "incident_opened"}
	got, err := unmarshalEntry(e.marshal())
	if err != nil || got != e {
		t.Fatalf("round trip:\n%+v\n%+v (%v)", got, e, err)
	}
	if _, err := unmarshalEntry(e.marshal()[:entryFixed-1]); err == nil {
		t.Fatal("a short entry read")
	}
	zero, err := unmarshalEntry(entry{}.marshal())
	if err != nil || !zero.Received.IsZero() || !zero.Time.IsZero() {
		t.Fatalf("zero times: %+v %v", zero, err)
	}
}

func TestBodyClasses(t *testing.T) {
	for n, want := range map[int64]int64{1: 4096, 4096: 4096, 4097: 8192, 1 << 20: 1 << 20, 1<<20 + 1: 2 << 20, MaxBody: MaxBody} {
		if got := bodySize(n); got != want {
			t.Errorf("bodySize(%d) = %d, want %d", n, got, want)
		}
		b := getBody(n)
		if int64(len(*b)) != n || int64(cap(*b)) != want {
			t.Errorf("getBody(%d): len %d cap %d", n, len(*b), cap(*b))
		}
		putBody(b)
	}
}

func TestMaxBodyIsAClass(t *testing.T) {
	if MaxBody != 1<<maxBodyClass {
		t.Fatalf("MaxBody %d is not 1<<maxBodyClass", MaxBody)
	}
}
