package backup

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Rates of the ping endpoint. A job pings a few times a run; a server
// running many jobs at once gets a burst of 30. Every request counts,
// answered or not, so that neither garbage nor UUID guessing goes fast.
const (
	PerSourceRate  = 0.5 // pings a second from one address (IPv6: one /64)
	PerSourceBurst = 30
	TotalRate      = 5 // pings a second from all addresses
	TotalBurst     = 100
	// maxSources bounds the addresses remembered.
	maxSources = 4096
)

// bucket is a token bucket: tokens refill at a rate up to a burst.
type bucket struct {
	tokens float64
	at     time.Duration
}

func (b *bucket) take(now time.Duration, rate, burst float64) bool {
	b.tokens = min(burst, b.tokens+max(now-b.at, 0).Seconds()*rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// limiter is a token bucket per source plus one for all sources.
type limiter struct {
	mu    sync.Mutex
	total bucket
	per   map[netip.Prefix]*bucket
	init  bool
}

// sourceOf is the bucket key of a request's remote address: the IPv4
// address, or the IPv6 /64 (one host can hold a whole /64). Unparsable
// addresses share one key.
func sourceOf(remote string) netip.Prefix {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	ip = ip.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// allow takes a token for src and one from the total; it returns "" or
// which bucket was empty ("source", "total").
func (l *limiter) allow(src netip.Prefix, now time.Duration) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.init {
		l.per, l.total, l.init = map[netip.Prefix]*bucket{}, bucket{tokens: TotalBurst, at: now}, true
	}
	b, ok := l.per[src]
	if !ok {
		if len(l.per) >= maxSources {
			l.prune(now)
		}
		b = &bucket{tokens: PerSourceBurst, at: now}
		l.per[src] = b
	}
	if !b.take(now, PerSourceRate, PerSourceBurst) {
		return "source"
	}
	if !l.total.take(now, TotalRate, TotalBurst) {
		return "total"
	}
	return ""
}

// prune forgets sources whose bucket has refilled (they lose nothing),
// and if that is not enough, any: the total bucket still holds.
func (l *limiter) prune(now time.Duration) {
	for p, b := range l.per {
		if b.tokens+max(now-b.at, 0).Seconds()*PerSourceRate >= PerSourceBurst {
			delete(l.per, p)
		}
	}
	for p := range l.per {
		if len(l.per) < maxSources {
			break
		}
		delete(l.per, p)
	}
}
