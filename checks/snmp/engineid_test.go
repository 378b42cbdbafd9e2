package snmp_test

import (
	"bytes"
	"errors"
	"testing"

	"outpost/checks/snmp"
)

type blobs struct {
	m       map[string][]byte
	failGet string
}

func (b *blobs) GetBlob(name string) ([]byte, error) {
	if name == b.failGet {
		return nil, errors.New("disk gone")
	}
	return bytes.Clone(b.m[name]), nil
}

func (b *blobs) PutBlob(name string, v []byte) error {
	b.m[name] = bytes.Clone(v)
	return nil
}

// TestKeepEngine: the engine ID is made once and kept; every start counts
// one more boot; the stored form (the blob names, 4 big-endian bytes) is
// the store format and stays.
func TestKeepEngine(t *testing.T) {
	b := &blobs{m: map[string][]byte{}}
	id, boots, err := snmp.KeepEngine(b)
	if err != nil || boots != 1 || len(id) != 17 || !bytes.Equal(id[:5], []byte{0x80, 0, 0, 0, 5}) {
		t.Fatalf("first start: %x %d %v", id, boots, err)
	}
	if !bytes.Equal(b.m["snmp-engine-id"], id) || !bytes.Equal(b.m["snmp-engine-boots"], []byte{0, 0, 0, 1}) {
		t.Fatalf("stored %x", b.m)
	}
	id2, boots, err := snmp.KeepEngine(b)
	if err != nil || boots != 2 || !bytes.Equal(id2, id) {
		t.Fatalf("second start: %x %d %v", id2, boots, err)
	}
	b.m["snmp-engine-boots"] = []byte{0, 0, 1, 0}
	if _, boots, _ := snmp.KeepEngine(b); boots != 257 {
		t.Fatalf("boots %d", boots)
	}
	b.m["snmp-engine-boots"] = []byte{1} // not a counter: start again
	if _, boots, _ := snmp.KeepEngine(b); boots != 1 {
		t.Fatalf("bad counter: boots %d", boots)
	}
	b.failGet = "snmp-engine-boots"
	if id3, boots, err := snmp.KeepEngine(b); err == nil || boots != 1 || !bytes.Equal(id3, id) {
		t.Fatalf("boots unreadable: %x %d %v", id3, boots, err)
	}
	b.failGet = "snmp-engine-id"
	if id3, _, err := snmp.KeepEngine(b); err == nil || id3 != nil {
		t.Fatalf("id unreadable: %x %v", id3, err)
	}
}
