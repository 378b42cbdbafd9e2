package store

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"outpost/checks"
)

// The inventory: every device a discovery sweep found, keyed by its MAC
// (or "ip:" and its address when no MAC was seen: off-link hosts), with
// first and last seen, its address and MAC history, and the changes
// sweeps saw as events (new device, device gone, back again, MAC moved to
// another IP, IP claimed by a second MAC). Bounded like the events: at
// most InventoryDevices devices (the gone ones heard from least recently
// go first), InventoryHistory addresses each, InventoryChanges changes.
var (
	bucketInventory        = []byte("inventory")         // key -> InventoryDevice
	bucketInventoryChanges = []byte("inventory-changes") // time+seq -> InventoryChange
	bucketInventorySweeps  = []byte("inventory-sweeps")  // subnet -> time of its last sweep
)

// Bounds of the inventory.
const (
	InventoryDevices = 10_000
	InventoryHistory = 16
	InventoryChanges = 10_000
)

func init() {
	registerBucket(string(bucketInventory))
	registerBucket(string(bucketInventoryChanges))
	registerBucket(string(bucketInventorySweeps))
}

// Sighting is one host as a sweep saw it.
type Sighting struct {
	IP         string   `json:"ip"`
	MAC        string   `json:"mac,omitempty"`
	Vendor     string   `json:"vendor,omitempty"`
	Name       string   `json:"name,omitempty"`
	Class      string   `json:"class"`
	Confidence float64  `json:"confidence"`
	Evidence   []string `json:"evidence,omitempty"`
	Ports      []int    `json:"ports,omitempty"`
	// ICMP: it answered the echo; SNMP: what its agent said (nil when
	// no SNMP was asked or it did not answer). Check templates are made
	// from these answers, never from the class alone.
	ICMP bool       `json:"icmp,omitempty"`
	SNMP *SNMPFacts `json:"snmp,omitempty"`
	// Self: the address is the box's own.
	Self bool `json:"self,omitempty"`
	// IPv6 are its IPv6 addresses on the link (kept in the address
	// history too).
	IPv6 []string `json:"ipv6,omitempty"`
}

// SNMPFacts is the SNMP system group and the MIBs a device's agent
// answered in a sweep.
type SNMPFacts struct {
	Descr      string   `json:"descr,omitempty"`
	ObjectID   string   `json:"object_id,omitempty"`
	Name       string   `json:"name,omitempty"`
	MIBs       []string `json:"mibs,omitempty"`
	Interfaces int      `json:"interfaces,omitempty"`
	// Model, Serial and Firmware are ENTITY-MIB's (empty without it).
	Model    string `json:"model,omitempty"`
	Serial   string `json:"serial,omitempty"`
	Firmware string `json:"firmware,omitempty"`
}

// Seen is one value (an address, a MAC) a device had, and when.
type Seen struct {
	Value string    `json:"value"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// InventoryDevice is a device of the inventory.
type InventoryDevice struct {
	Key string `json:"key"`
	Sighting
	Subnet    string    `json:"subnet"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Gone: the last sweep of its subnet did not find it.
	Gone      bool   `json:"gone"`
	Addresses []Seen `json:"addresses"`
	MACs      []Seen `json:"macs,omitempty"`
	// Decision is what a technician decided (nil: nothing yet); sweeps
	// keep it. Merged are the keys of the records merged into this one.
	Decision *Decision `json:"decision,omitempty"`
	Merged   []string  `json:"merged,omitempty"`
}

// Kinds of inventory change.
const (
	ChangeNewDevice  = checks.ChangeNewDevice
	ChangeGone       = checks.ChangeGone
	ChangeBack       = checks.ChangeBack
	ChangeMACMoved   = checks.ChangeMACMoved  // a MAC answered on another IP
	ChangeIPClaimed  = checks.ChangeIPClaimed // an IP answered with a second MAC
	ChangeFirmware   = checks.ChangeFirmware  // its SNMP sysDescr (model and firmware words) changed
	maxInventoryText = 256
)

// InventoryChange is what one sweep changed.
type InventoryChange struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Subnet string    `json:"subnet"`
	Key    string    `json:"key"`
	IP     string    `json:"ip"`
	MAC    string    `json:"mac,omitempty"`
	// OldIP is where a moved MAC was; OtherMAC who held a claimed IP.
	OldIP    string `json:"old_ip,omitempty"`
	OtherMAC string `json:"other_mac,omitempty"`
	Detail   string `json:"detail"`
}

func sightingKey(s Sighting) string {
	if s.MAC != "" {
		return s.MAC
	}
	return "ip:" + s.IP
}

func remember(h []Seen, v string, at time.Time) []Seen {
	for i := range h {
		if h[i].Value == v {
			h[i].Last = at
			return h
		}
	}
	h = append(h, Seen{Value: v, First: at, Last: at})
	if len(h) > InventoryHistory {
		sort.Slice(h, func(i, j int) bool { return h[i].Last.After(h[j].Last) })
		h = h[:InventoryHistory]
	}
	return h
}

func boundSighting(s Sighting) Sighting {
	s.IP, s.MAC, s.Vendor = cut(s.IP, 64), cut(s.MAC, 64), cut(s.Vendor, maxInventoryText)
	s.Name, s.Class = cut(s.Name, maxInventoryText), cut(s.Class, 32)
	if len(s.Evidence) > 16 {
		s.Evidence = s.Evidence[:16]
	}
	for i := range s.Evidence {
		s.Evidence[i] = cut(s.Evidence[i], maxInventoryText)
	}
	if len(s.Ports) > 64 {
		s.Ports = s.Ports[:64]
	}
	if len(s.IPv6) > 8 {
		s.IPv6 = s.IPv6[:8]
	}
	for i := range s.IPv6 {
		s.IPv6[i] = cut(s.IPv6[i], 64)
	}
	if f := s.SNMP; f != nil {
		g := *f
		g.Descr, g.ObjectID, g.Name = cut(g.Descr, maxInventoryText), cut(g.ObjectID, 128), cut(g.Name, maxInventoryText)
		g.Model, g.Serial, g.Firmware = cut(g.Model, 128), cut(g.Serial, 128), cut(g.Firmware, 128)
		if len(g.MIBs) > 16 {
			g.MIBs = g.MIBs[:16]
		}
		for i := range g.MIBs {
			g.MIBs[i] = cut(g.MIBs[i], 32)
		}
		s.SNMP = &g
	}
	return s
}

// RecordSweep keeps what one sweep of subnet found at time at, in one
// commit, and returns the changes it saw (also kept). Devices of the
// subnet that the sweep did not find are marked gone. Errors are the
// disk's, or a subnet that is not a CIDR.
func (s *Store) RecordSweep(subnet string, at time.Time, seen []Sighting) ([]InventoryChange, error) {
	pfx, err := netip.ParsePrefix(subnet)
	if err != nil {
		return nil, fmt.Errorf("recording a sweep of %q: %w", subnet, err)
	}
	at = at.UTC()
	var changes []InventoryChange
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketInventory)
		devs := map[string]*InventoryDevice{}
		err := b.ForEach(func(k, v []byte) error {
			var d InventoryDevice
			if err := json.Unmarshal(v, &d); err != nil {
				return nil // an unreadable record is replaced
			}
			devs[string(k)] = &d
			return nil
		})
		if err != nil {
			return err
		}
		inSubnet := func(ip string) bool {
			a, err := netip.ParseAddr(ip)
			return err == nil && pfx.Contains(a)
		}
		// Who held each address before this sweep.
		holder := map[string]string{}
		for k, d := range devs {
			if !d.Gone && inSubnet(d.IP) {
				holder[d.IP] = k
			}
		}
		alias, err := readAliases(tx)
		if err != nil {
			return err
		}
		change := func(kind string, d *InventoryDevice, format string, args ...any) *InventoryChange {
			if d.Decision != nil && d.Decision.Ignored {
				return &InventoryChange{} // an ignored device changes silently
			}
			changes = append(changes, InventoryChange{Time: at, Kind: kind, Subnet: pfx.String(), Key: d.Key, IP: d.IP, MAC: d.MAC,
				Detail: cut(fmt.Sprintf(format, args...), maxInventoryText)})
			return &changes[len(changes)-1]
		}
		found := map[string]bool{}
		for _, sg := range seen {
			sg = boundSighting(sg)
			k := sightingKey(sg)
			if to, ok := alias[k]; ok && devs[to] != nil {
				k = to // merged into another record by a technician
			}
			if found[k] {
				continue
			}
			found[k] = true
			d, ok := devs[k]
			if !ok {
				d = &InventoryDevice{Key: k, FirstSeen: at}
				devs[k] = d
				d.Sighting = sg
				change(ChangeNewDevice, d, "new device %s at %s (%s)", d.Label(), sg.IP, sg.Class)
			} else {
				if d.Gone {
					c := change(ChangeBack, d, "%s is back at %s", d.Label(), sg.IP)
					c.IP = sg.IP
				}
				if sg.MAC != "" && d.IP != "" && d.IP != sg.IP {
					c := change(ChangeMACMoved, d, "MAC %s moved from %s to %s", sg.MAC, d.IP, sg.IP)
					c.OldIP, c.IP = d.IP, sg.IP
				}
				if sg.MAC == "" {
					sg.MAC = d.MAC // a merged MAC-less record answered
				}
				if changed, now, was := firmwareChange(d.SNMP, sg.SNMP); changed {
					change(ChangeFirmware, d, "%s at %s: firmware %s, was %s", d.Label(), sg.IP, now, was)
				}
				d.Sighting = sg
			}
			if h, ok := holder[sg.IP]; ok && h != k && sg.MAC != "" {
				if other := devs[h]; other != nil && other.MAC != "" {
					c := change(ChangeIPClaimed, d, "%s now answers with MAC %s, was %s", sg.IP, sg.MAC, other.MAC)
					c.OtherMAC = other.MAC
				}
			}
			d.Subnet, d.LastSeen, d.Gone = pfx.String(), at, false
			d.Addresses = remember(d.Addresses, sg.IP, at)
			for _, a := range sg.IPv6 {
				d.Addresses = remember(d.Addresses, a, at)
			}
			if sg.MAC != "" {
				d.MACs = remember(d.MACs, sg.MAC, at)
			}
		}
		for k, d := range devs {
			if !found[k] && !d.Gone && inSubnet(d.IP) {
				d.Gone = true
				change(ChangeGone, d, "%s (%s) not found at %s, last seen %s", d.Label(), d.EffectiveClass(), d.IP, d.LastSeen.Format(time.RFC3339))
			}
		}
		if err := evictInventory(devs); err != nil {
			return err
		}
		for k, d := range devs {
			if err := putJSON(b, k, d); err != nil {
				return err
			}
		}
		// Drop what evictInventory removed.
		var drop [][]byte
		b.ForEach(func(k, _ []byte) error {
			if devs[string(k)] == nil {
				drop = append(drop, slices.Clone(k))
			}
			return nil
		})
		for _, k := range drop {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketInventorySweeps).Put([]byte(pfx.String()), timeKey(at)); err != nil {
			return err
		}
		cb := tx.Bucket(bucketInventoryChanges)
		for _, c := range changes {
			seq, err := cb.NextSequence()
			if err != nil {
				return err
			}
			v, err := json.Marshal(c)
			if err != nil {
				return err
			}
			if err := cb.Put(seqKey(c.Time, uint32(seq)), v); err != nil {
				return err
			}
		}
		n := 0
		cur := cb.Cursor()
		for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
			n++
		}
		for k, _ := cur.First(); k != nil && n > InventoryChanges; k, _ = cur.First() {
			if err := cb.Delete(k); err != nil {
				return err
			}
			n--
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recording a sweep of %s: %w", subnet, err)
	}
	return changes, nil
}

// Label names the device in a change: the technician's name, else its
// own, else its MAC and vendor, else its address.
func (d *InventoryDevice) Label() string {
	if d.Decision != nil && d.Decision.Name != "" {
		return d.Decision.Name
	}
	return deviceLabel(d.Sighting)
}

// EffectiveClass is the technician's class when one was set, else the
// sweep's.
func (d *InventoryDevice) EffectiveClass() string {
	if d.Decision != nil && d.Decision.Class != "" {
		return d.Decision.Class
	}
	return d.Class
}

func deviceLabel(s Sighting) string {
	switch {
	case s.Name != "":
		return s.Name
	case s.MAC != "" && s.Vendor != "":
		return s.MAC + " (" + s.Vendor + ")"
	case s.MAC != "":
		return s.MAC
	}
	return s.IP
}

// evictInventory removes the gone devices heard from least recently
// beyond InventoryDevices.
func evictInventory(devs map[string]*InventoryDevice) error {
	if len(devs) <= InventoryDevices {
		return nil
	}
	var gone []*InventoryDevice
	for _, d := range devs {
		if d.Gone {
			gone = append(gone, d)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].LastSeen.Before(gone[j].LastSeen) })
	for _, d := range gone {
		if len(devs) <= InventoryDevices {
			break
		}
		delete(devs, d.Key)
	}
	return nil
}

// Inventory lists the devices, by address.
func (s *Store) Inventory() ([]InventoryDevice, error) {
	var out []InventoryDevice
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketInventory).ForEach(func(_, v []byte) error {
			var d InventoryDevice
			if json.Unmarshal(v, &d) == nil {
				out = append(out, d)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		a, _ := netip.ParseAddr(out[i].IP)
		b, _ := netip.ParseAddr(out[j].IP)
		return a.Less(b)
	})
	return out, err
}

// InventoryChangesSince lists the changes at or after from, oldest first,
// at most n.
func (s *Store) InventoryChangesSince(from time.Time, n int) ([]InventoryChange, error) {
	var out []InventoryChange
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketInventoryChanges).Cursor()
		k, v := c.First()
		if !from.IsZero() {
			k, v = c.Seek(timeKey(from))
		}
		for ; k != nil && len(out) < n; k, v = c.Next() {
			var ch InventoryChange
			if json.Unmarshal(v, &ch) == nil {
				out = append(out, ch)
			}
		}
		return nil
	})
	return out, err
}

// LastSweep is when subnet was last recorded (zero if never), so a
// restarted daemon keeps its sweep interval.
func (s *Store) LastSweep(subnet string) (time.Time, error) {
	var t time.Time
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketInventorySweeps).Get([]byte(subnet)); len(v) == 8 {
			t = keyTime(v)
		}
		return nil
	})
	return t, err
}

// firmwareChange says whether a device's firmware changed between two
// sightings, and how it reads now and before: ENTITY-MIB's revision when
// both have one, else the sysDescr (where most devices state their
// firmware or OS version) when neither has; nothing without SNMP.
func firmwareChange(was, now *SNMPFacts) (bool, string, string) {
	switch {
	case was == nil || now == nil:
		return false, "", ""
	case was.Firmware != "" && now.Firmware != "":
		return was.Firmware != now.Firmware, now.Firmware, was.Firmware
	case was.Firmware == "" && now.Firmware == "" && was.Descr != "" && now.Descr != "":
		return was.Descr != now.Descr, fmt.Sprintf("%q", now.Descr), fmt.Sprintf("%q", was.Descr)
	}
	return false, "", ""
}
