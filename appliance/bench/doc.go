// Package bench holds the whole-daemon fleet benchmark run by `make bench`:
// a real outpost process checking thousands of loopback endpoints, measured
// from outside (CPU and RSS from /proc, lateness and commits from /metrics).
package bench
