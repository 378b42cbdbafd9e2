package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestPhoneAppendBuildsOutsideTheWrite: building a summary reads the
// incidents, whose engine may be saving one at that moment. The build
// runs outside the write transaction, so a build that waits for another
// write (here it makes one) finishes; inside it, the two deadlocked.
// A summary queued by someone else meanwhile makes the build run again
// with the next number.
func TestPhoneAppendBuildsOutsideTheWrite(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "outpost.db"), Options{})
	done := make(chan error, 1)
	go func() {
		_, err := s.PhoneAppend(1<<20, "", func(seq uint64, _ PhoneMeta) ([]byte, map[string]string, error) {
			return fmt.Appendf(nil, "summary %d", seq), nil, s.PutBlob("written-while-building", []byte("x"))
		}, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a build that writes to the store deadlocked PhoneAppend")
	}
	var seqs []uint64
	first := true
	seq, err := s.PhoneAppend(1<<20, "", func(seq uint64, _ PhoneMeta) ([]byte, map[string]string, error) {
		seqs = append(seqs, seq)
		if first { // another summary queued while this one is built
			first = false
			if _, err := s.PhoneAppend(1<<20, "", func(seq uint64, _ PhoneMeta) ([]byte, map[string]string, error) {
				return fmt.Appendf(nil, "summary %d", seq), nil, nil
			}, nil); err != nil {
				return nil, nil, err
			}
		}
		return fmt.Appendf(nil, "summary %d", seq), nil, nil
	}, nil)
	if err != nil || len(seqs) != 2 || seqs[1] != seqs[0]+1 || seq != seqs[1] {
		t.Fatalf("seq %d, builds %v, %v", seq, seqs, err)
	}
}
