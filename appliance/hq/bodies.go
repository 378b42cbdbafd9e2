package hq

import (
	"math/bits"
	"sync"
)

// Request bodies are read into buffers by size class (powers of two
// from 4 KiB to MaxBody) that go back to a pool once the request is
// done (bbolt copies what it stores at commit). A flood of uploads then
// reuses the few buffers the gate admits at once instead of leaving
// garbage for the collector, and the gate counts the class size, so
// what it admits is what is held.
const (
	minBodyClass = 12 // 4 KiB
	maxBodyClass = 23 // MaxBody, 8 MiB
)

var bodyPools [maxBodyClass - minBodyClass + 1]sync.Pool

func bodyClass(n int64) int {
	if n <= 1<<minBodyClass {
		return 0
	}
	return bits.Len64(uint64(n-1)) - minBodyClass
}

// bodySize is what a body of n bytes holds: its class's size.
func bodySize(n int64) int64 { return 1 << (bodyClass(n) + minBodyClass) }

func getBody(n int64) *[]byte {
	c := bodyClass(n)
	if p, ok := bodyPools[c].Get().(*[]byte); ok {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, bodySize(n))
	return &b
}

func putBody(p *[]byte) {
	c := bodyClass(int64(cap(*p)))
	if int64(cap(*p)) == 1<<(c+minBodyClass) {
		bodyPools[c].Put(p)
	}
}
