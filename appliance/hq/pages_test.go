package hq_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"outpost/appliance/hq"
	hqui "outpost/ui/hq"
)

var historySeq = regexp.MustCompile(`<tr[^>]*><td>(\d+)</td><td>\d{4}-`)

// TestSitePagePaginates: a box with more summaries than a page holds
// shows the newest hqui.HistoryRows, then older pages through the
// "older" link, down to the first summary; every summary is on exactly
// one page, and a bad bound is refused.
func TestSitePagePaginates(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	box := newBox(t)
	s.Register(box.ID(), box.PublicKeyString(), "Acme")
	h := s.Handler()
	total := 2*hqui.HistoryRows + 50
	for seq := uint64(1); seq <= uint64(total); seq++ {
		if w := post(h, box, box.ID(), seq, summary(t, box, seq), nil); w.Code != http.StatusOK {
			t.Fatalf("summary %d: %d %s", seq, w.Code, w.Body.String())
		}
	}
	s.AddUser("alice", testPassword, false)
	fh := fleet(s, nil)
	cookies := login(t, fh, "alice", testPassword)
	seen := map[string]int{}
	next, pages := "/boxes/"+box.ID(), 0
	older := regexp.MustCompile(`data-testid="older" href="([^"]+)"`)
	for next != "" {
		w := get(fh, "http://hq.example"+strings.ReplaceAll(next, "&amp;", "&"), cookies)
		page := w.Body.String()
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", next, w.Code, page)
		}
		rows := historySeq.FindAllStringSubmatch(page, -1)
		if pages < 2 && len(rows) != hqui.HistoryRows || pages == 2 && len(rows) != 50 {
			t.Fatalf("page %d (%s) has %d rows", pages, next, len(rows))
		}
		for _, r := range rows {
			seen[r[1]]++
		}
		if pages > 0 && !strings.Contains(page, `data-testid="newest"`) {
			t.Fatalf("page %d has no link to the newest", pages)
		}
		next = ""
		if m := older.FindStringSubmatch(page); m != nil {
			next = m[1]
		}
		pages++
	}
	if pages != 3 || len(seen) != total {
		t.Fatalf("%d pages, %d distinct summaries of %d", pages, len(seen), total)
	}
	for seq, n := range seen {
		if n != 1 {
			t.Fatalf("summary %s on %d pages", seq, n)
		}
	}
	if w := get(fh, "http://hq.example/boxes/"+box.ID()+"?before=x", cookies); w.Code != http.StatusBadRequest {
		t.Fatalf("a bad bound: %d", w.Code)
	}
}
