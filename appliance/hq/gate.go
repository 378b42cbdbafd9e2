package hq

import "sync"

// gate admits request bodies before a byte of them is read: the bytes
// in flight for everyone and for one client address, and the requests
// naming one box, are bounded. What it refuses costs the receiver
// nothing but the headers; a box told 503 with Retry-After keeps its
// summary queued and comes back.
type gate struct {
	lim    Limits
	mu     sync.Mutex
	bytes  int64
	byAddr map[string]int64
	byBox  map[string]int
}

func newGate(l Limits) *gate {
	return &gate{lim: l, byAddr: map[string]int64{}, byBox: map[string]int{}}
}

// admit reserves n body bytes for a request naming box from addr; the
// reason says which bound refused it.
func (g *gate) admit(box, addr string, n int64) (release func(), reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.byBox[box] >= g.lim.BoxUploads:
		return nil, "too many uploads for this box at once"
	case g.byAddr[addr]+n > g.lim.AddrUploadBytes:
		return nil, "too many upload bytes from this address at once"
	case g.bytes+n > g.lim.UploadBytes:
		return nil, "too many upload bytes at once"
	}
	g.byBox[box]++
	g.byAddr[addr] += n
	g.bytes += n
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.bytes -= n
			if g.byAddr[addr] -= n; g.byAddr[addr] <= 0 {
				delete(g.byAddr, addr)
			}
			if g.byBox[box]--; g.byBox[box] <= 0 {
				delete(g.byBox, box)
			}
		})
	}, ""
}
