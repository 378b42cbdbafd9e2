package hqui

import (
	"outpost/ui/login"
	"sync"
	"testing"
	"time"

	"outpost/checks/clock"
	"outpost/ui"
)

// TestPasswordRuleIsTheBoxs: the fleet pages take the passwords the box
// UI takes, and refuse those it refuses (the rule is copied so that hq
// carries nothing of the box; this keeps the copy true).
func TestPasswordRuleIsTheBoxs(t *testing.T) {
	for _, c := range []struct{ user, pw string }{
		{"alice", ""}, {"alice", "short1A!"}, {"alice", "alllowercaseletters"}, {"alice", "lowercase123456"},
		{"alice", "Lowercase123456"}, {"alice", "xxAlice-12345xx"}, {"alice", "ALICE-upper-123"}, {"bob", "Correct-Horse-9"},
		{"bob", "correct horse battery staple"}, {"bob", "ÄÖÜäöü123456789"}, {"bob", "パスワードパスワード12AB"}, {"", "Correct-Horse-9"},
	} {
		mine, box := CheckPassword(c.user, c.pw), ui.CheckPassword(c.user, c.pw)
		if (mine == nil) != (box == nil) || (mine != nil && mine.Error() != box.Error()) {
			t.Errorf("user %q password %q: fleet pages %v, box %v", c.user, c.pw, mine, box)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/": "/", "/boxes/ob-1?x=1": "/boxes/ob-1?x=1", "": "/", "//evil.example/": "/", "/\\evil.example": "/",
		"https://evil.example/": "/", "boxes": "/", "/%0d%0aSet-Cookie:x": "/%0d%0aSet-Cookie:x", "/\r\nx": "/", "/\tx": "/",
	} {
		if got := login.SafeNext(in); got != want {
			t.Errorf("login.SafeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLimiterCountsBeforeTheCheck: reservations made in parallel are
// counted at once; a success gives its reservation back; the block
// lifts after the window on the monotonic clock, not the wall clock.
func TestLimiterCountsBeforeTheCheck(t *testing.T) {
	clk := clock.NewFake(time.Date(2031, 3, 1, 8, 0, 0, 0, time.UTC))
	l := newLimiter(clk)
	r := rule{"addr 192.0.2.1", 3, time.Minute}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var dones []func(bool)
	refused := 0
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done, _, ok := l.begin(r)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				dones = append(dones, done)
			} else {
				refused++
			}
		}()
	}
	wg.Wait()
	if len(dones) != 3 || refused != 7 {
		t.Fatalf("%d admitted, %d refused; want 3, 7", len(dones), refused)
	}
	dones[0](true)
	dones[1](false)
	dones[2](false)
	if _, _, ok := l.begin(r); !ok {
		t.Fatal("a success still counted as a failure")
	}
	_, retry, ok := l.begin(r)
	if ok || retry <= 0 || retry > time.Minute {
		t.Fatalf("fourth attempt: ok %v, retry %s", ok, retry)
	}
	clk.Jump(-time.Hour) // the wall clock steps back: the block stays
	if _, _, ok := l.begin(r); ok {
		t.Fatal("a wall-clock step lifted the block")
	}
	clk.Advance(time.Minute + time.Second)
	if _, _, ok := l.begin(r); !ok {
		t.Fatal("still blocked after the window")
	}
}
