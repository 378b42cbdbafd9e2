package backup

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"outpost/checks"
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

// limiter is a token bucket per source plus one for all sources.
type limiter struct {
	mu    sync.Mutex
	total checks.TokenBucket
	per   map[netip.Prefix]*checks.TokenBucket
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
		l.per, l.total, l.init = map[netip.Prefix]*checks.TokenBucket{}, checks.NewTokenBucket(TotalBurst, now), true
	}
	b, ok := l.per[src]
	if !ok {
		if len(l.per) >= maxSources {
			l.prune(now)
		}
		nb := checks.NewTokenBucket(PerSourceBurst, now)
		b = &nb
		l.per[src] = b
	}
	if !b.Take(now, PerSourceRate, PerSourceBurst) {
		return "source"
	}
	if !l.total.Take(now, TotalRate, TotalBurst) {
		return "total"
	}
	return ""
}

// prune forgets sources whose bucket has refilled (they lose nothing),
// and if that is not enough, any: the total bucket still holds.
func (l *limiter) prune(now time.Duration) {
	for p, b := range l.per {
		if b.Level(now, PerSourceRate, PerSourceBurst) >= PerSourceBurst {
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
