package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Technician decisions about inventory devices: a class that overrides
// the sweep's, a name, labels, ignoring a device (its changes are no
// longer reported) and merging two records into one (the dropped key
// becomes an alias, so later sweeps that see it update the kept record).
// Decisions live on the device record and in the alias bucket, so
// sweeps and restarts keep them.

var bucketInventoryAliases = []byte("inventory-aliases") // merged key -> kept key

func init() { registerBucket(string(bucketInventoryAliases)) }

// Bounds of a decision.
const (
	MaxDecisionLabels = 16
	maxLabelKey       = 64
)

// Decision is what a technician decided about a device.
type Decision struct {
	// Class overrides the sweep's class ("" keeps it).
	Class string `json:"class,omitempty"`
	// Name is the technician's name for the device ("" keeps the
	// device's own).
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	// Ignored devices stay in the inventory but their changes are not
	// reported.
	Ignored bool      `json:"ignored,omitempty"`
	By      string    `json:"by,omitempty"`
	At      time.Time `json:"at"`
}

// ErrNoInventoryDevice is returned for a reference that names no device;
// ErrBadDecision wraps a decision the store refuses (too long, too many
// labels, a reference naming several devices, a merge with itself).
var (
	ErrNoInventoryDevice = errors.New("no such device in the inventory")
	ErrBadDecision       = errors.New("refused")
)

func badDecision(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadDecision}, args...)...)
}

// resolveInventory finds the device ref names: its key, a MAC, a key
// merged into it, its current address, or its technician's name.
func resolveInventory(tx *bolt.Tx, ref string) (string, *InventoryDevice, error) {
	b := tx.Bucket(bucketInventory)
	load := func(k []byte) (*InventoryDevice, bool) {
		v := b.Get(k)
		if v == nil {
			return nil, false
		}
		var d InventoryDevice
		if json.Unmarshal(v, &d) != nil {
			return nil, false
		}
		return &d, true
	}
	ref = strings.TrimSpace(ref)
	for _, k := range []string{ref, strings.ToLower(ref)} {
		if d, ok := load([]byte(k)); ok {
			return k, d, nil
		}
	}
	for _, k := range []string{ref, strings.ToLower(ref)} {
		if to := tx.Bucket(bucketInventoryAliases).Get([]byte(k)); to != nil {
			if d, ok := load(to); ok {
				return string(to), d, nil
			}
		}
	}
	var byIP, byName []string
	var found = map[string]*InventoryDevice{}
	b.ForEach(func(k, v []byte) error {
		var d InventoryDevice
		if json.Unmarshal(v, &d) != nil {
			return nil
		}
		if d.IP == ref {
			byIP = append(byIP, string(k))
		}
		if d.Decision != nil && d.Decision.Name == ref || d.Name == ref {
			byName = append(byName, string(k))
		}
		found[string(k)] = &d
		return nil
	})
	for _, keys := range [][]string{byIP, byName} {
		switch len(keys) {
		case 0:
		case 1:
			return keys[0], found[keys[0]], nil
		default:
			// A gone device may have left its address to another one.
			var live []string
			for _, k := range keys {
				if !found[k].Gone {
					live = append(live, k)
				}
			}
			if len(live) == 1 {
				return live[0], found[live[0]], nil
			}
			sort.Strings(keys)
			return "", nil, badDecision("%q names %d devices (%s): give the key", ref, len(keys), strings.Join(keys, ", "))
		}
	}
	return "", nil, fmt.Errorf("%q: %w", ref, ErrNoInventoryDevice)
}

// InventoryDeviceOf returns the device ref names (a key, MAC, address or
// name); ErrNoInventoryDevice when none.
func (s *Store) InventoryDeviceOf(ref string) (InventoryDevice, error) {
	var out InventoryDevice
	err := s.db.View(func(tx *bolt.Tx) error {
		_, d, err := resolveInventory(tx, ref)
		if err == nil {
			out = *d
		}
		return err
	})
	return out, err
}

// DecisionEdit changes a decision; nil fields are kept.
type DecisionEdit struct {
	Class   *string
	Name    *string
	Ignored *bool
	// Labels are set (a "" value removes the label).
	Labels map[string]string
	By     string
}

// Decide applies edit to the device ref names, at time at, and returns
// the device as it is now. Errors: ErrNoInventoryDevice, a label or name
// too long, too many labels, the disk's.
func (s *Store) Decide(ref string, edit DecisionEdit, at time.Time) (InventoryDevice, error) {
	var out InventoryDevice
	if edit.Name != nil && len(*edit.Name) > maxInventoryText {
		return out, badDecision("name is %d bytes; at most %d", len(*edit.Name), maxInventoryText)
	}
	for k, v := range edit.Labels {
		if k == "" || len(k) > maxLabelKey || len(v) > maxInventoryText {
			return out, badDecision("label %q: keys are 1 to %d bytes, values at most %d", k, maxLabelKey, maxInventoryText)
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		k, d, err := resolveInventory(tx, ref)
		if err != nil {
			return err
		}
		dec := Decision{}
		if d.Decision != nil {
			dec = *d.Decision
			dec.Labels = maps.Clone(dec.Labels)
		}
		if edit.Class != nil {
			dec.Class = *edit.Class
		}
		if edit.Name != nil {
			dec.Name = strings.TrimSpace(*edit.Name)
		}
		if edit.Ignored != nil {
			dec.Ignored = *edit.Ignored
		}
		for lk, lv := range edit.Labels {
			if lv == "" {
				delete(dec.Labels, lk)
				continue
			}
			if dec.Labels == nil {
				dec.Labels = map[string]string{}
			}
			dec.Labels[lk] = lv
		}
		if len(dec.Labels) > MaxDecisionLabels {
			return badDecision("%d labels; at most %d", len(dec.Labels), MaxDecisionLabels)
		}
		dec.By, dec.At = cut(edit.By, 64), at.UTC()
		d.Decision = &dec
		out = *d
		return putJSON(tx.Bucket(bucketInventory), k, d)
	})
	if err != nil {
		return InventoryDevice{}, fmt.Errorf("deciding about %q: %w", ref, err)
	}
	return out, nil
}

// MergeInventory merges the device drop names into the one keep names:
// histories joined, first seen the earlier, the newer sighting kept,
// keep's decision kept (drop's fills what keep's leaves empty). drop's
// key becomes an alias of keep, so sweeps that see it update keep.
func (s *Store) MergeInventory(keep, drop, by string, at time.Time) (InventoryDevice, error) {
	var out InventoryDevice
	err := s.db.Update(func(tx *bolt.Tx) error {
		kk, kd, err := resolveInventory(tx, keep)
		if err != nil {
			return err
		}
		dk, dd, err := resolveInventory(tx, drop)
		if err != nil {
			return err
		}
		if kk == dk {
			return badDecision("%q and %q are the same device (%s)", keep, drop, kk)
		}
		if dd.LastSeen.After(kd.LastSeen) {
			mac := kd.MAC
			kd.Sighting = dd.Sighting
			if kd.MAC == "" {
				kd.MAC = mac
			}
			kd.LastSeen, kd.Gone, kd.Subnet = dd.LastSeen, dd.Gone, dd.Subnet
		} else {
			kd.Gone = kd.Gone && dd.Gone
		}
		if dd.FirstSeen.Before(kd.FirstSeen) {
			kd.FirstSeen = dd.FirstSeen
		}
		kd.Addresses = joinSeen(kd.Addresses, dd.Addresses)
		kd.MACs = joinSeen(kd.MACs, dd.MACs)
		if dd.Decision != nil {
			if kd.Decision == nil {
				kd.Decision = &Decision{}
			}
			kd.Decision.Class = cmpOr(kd.Decision.Class, dd.Decision.Class)
			kd.Decision.Name = cmpOr(kd.Decision.Name, dd.Decision.Name)
			for lk, lv := range dd.Decision.Labels {
				if _, ok := kd.Decision.Labels[lk]; !ok && len(kd.Decision.Labels) < MaxDecisionLabels {
					if kd.Decision.Labels == nil {
						kd.Decision.Labels = map[string]string{}
					}
					kd.Decision.Labels[lk] = lv
				}
			}
		}
		if kd.Decision == nil {
			kd.Decision = &Decision{}
		}
		kd.Decision.By, kd.Decision.At = cut(by, 64), at.UTC()
		kd.Merged = append(kd.Merged, dk)
		kd.Merged = append(kd.Merged, dd.Merged...)
		if len(kd.Merged) > InventoryHistory {
			kd.Merged = kd.Merged[len(kd.Merged)-InventoryHistory:]
		}
		ab := tx.Bucket(bucketInventoryAliases)
		// Aliases of drop now lead to keep.
		var repoint [][]byte
		ab.ForEach(func(k, v []byte) error {
			if string(v) == dk {
				repoint = append(repoint, slices.Clone(k))
			}
			return nil
		})
		for _, k := range append(repoint, []byte(dk)) {
			if err := ab.Put(k, []byte(kk)); err != nil {
				return err
			}
		}
		if err := ab.Delete([]byte(kk)); err != nil {
			return err
		}
		b := tx.Bucket(bucketInventory)
		if err := b.Delete([]byte(dk)); err != nil {
			return err
		}
		out = *kd
		return putJSON(b, kk, kd)
	})
	if err != nil {
		return InventoryDevice{}, fmt.Errorf("merging %q into %q: %w", drop, keep, err)
	}
	return out, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// joinSeen is the union of two histories, newest kept when over
// InventoryHistory.
func joinSeen(a, b []Seen) []Seen {
	out := slices.Clone(a)
	for _, s := range b {
		i := slices.IndexFunc(out, func(o Seen) bool { return o.Value == s.Value })
		if i < 0 {
			out = append(out, s)
			continue
		}
		if s.First.Before(out[i].First) {
			out[i].First = s.First
		}
		if s.Last.After(out[i].Last) {
			out[i].Last = s.Last
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Last.After(out[j].Last) })
	if len(out) > InventoryHistory {
		out = out[:InventoryHistory]
	}
	return out
}

// readAliases reads the merged keys (merged key -> kept key).
func readAliases(tx *bolt.Tx) (map[string]string, error) {
	m := map[string]string{}
	err := tx.Bucket(bucketInventoryAliases).ForEach(func(k, v []byte) error {
		m[string(k)] = string(v)
		return nil
	})
	return m, err
}
