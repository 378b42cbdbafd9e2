package checks

import "time"

// TokenBucket is a token bucket on the monotonic clock (clock.Mono):
// tokens refill at rate per second up to burst, and each Take spends one.
// A zero TokenBucket starts full. The receivers that face the network
// (traps, syslog, backup pings) rate-limit each sender and all of them
// with it. It is not safe for concurrent use: its owner locks.
type TokenBucket struct {
	tokens float64
	at     time.Duration
}

// Take spends a token at now, reporting false (and spending nothing)
// when none is left.
func (b *TokenBucket) Take(now time.Duration, rate, burst float64) bool {
	b.tokens = min(burst, b.tokens+max(now-b.at, 0).Seconds()*rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// NewTokenBucket is a bucket holding tokens at now.
func NewTokenBucket(tokens float64, now time.Duration) TokenBucket {
	return TokenBucket{tokens: tokens, at: now}
}

// Level is how many tokens the bucket would hold at now, without
// spending any: a bucket back at burst has forgotten its sender.
func (b *TokenBucket) Level(now time.Duration, rate, burst float64) float64 {
	return min(burst, b.tokens+max(now-b.at, 0).Seconds()*rate)
}
