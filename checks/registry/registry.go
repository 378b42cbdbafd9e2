// Package registry is the one small table of named things Outpost's
// extension points share: check kinds, notification channel kinds,
// healing actions, config sections and CLI commands each register into a
// Registry from their own file, and config validation builds its "one of
// ..." messages from the same table.
package registry

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Registry maps names to values of one kind. It is safe for concurrent
// use; entries are added from init functions and never removed.
type Registry[T any] struct {
	what string
	mu   sync.RWMutex
	m    map[string]T
}

// New returns an empty registry; what names its entries in messages
// ("kind", "channel kind", "action").
func New[T any](what string) *Registry[T] {
	return &Registry[T]{what: what, m: map[string]T{}}
}

// Add registers v as name. A name added twice panics: that is a
// programming error any test catches.
func (r *Registry[T]) Add(name string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[name]; dup {
		panic(fmt.Sprintf("registry: %s registered twice: %s", r.what, name))
	}
	r.m[name] = v
}

// Get returns the entry registered as name.
func (r *Registry[T]) Get(name string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.m[name]
	return v, ok
}

// Names returns the registered names, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// All returns the entries in name order.
func (r *Registry[T]) All() []T {
	names := r.Names()
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]T, len(names))
	for i, n := range names {
		out[i] = r.m[n]
	}
	return out
}

// Unknown is the message for a name nothing is registered as:
// `unknown kind "telnet" (one of dns, http, ...)`.
func (r *Registry[T]) Unknown(name string) string {
	return fmt.Sprintf("unknown %s %q (one of %s)", r.what, name, strings.Join(r.Names(), ", "))
}
