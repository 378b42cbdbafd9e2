package hq

import (
	"fmt"
	"strings"
	"unicode"

	"outpost/appliance/phonehome/wire"
)

// RegisterRequest is the body of POST /boxes.
type RegisterRequest struct {
	ID, Key, Site string
	// ReplaceKey allows replacing the key a box is registered with.
	// Since a box's id is made from its key, only a record written
	// before hq checked that can hold another key.
	ReplaceKey bool `json:",omitempty"`
}

// Registration is what a registration did.
type Registration struct {
	Box Box
	// New is true for a box registered for the first time.
	New bool
	// KeyID names the box's key; OldKeyID the key it replaced, if any.
	KeyID, OldKeyID string `json:",omitempty"`
}

// Register adds a box, or updates its site; it never replaces a key.
func (s *Server) Register(id, key, site string) (Box, error) {
	r, err := s.RegisterBox(RegisterRequest{ID: id, Key: key, Site: site})
	return r.Box, err
}

// RegisterBox adds a box or updates its site. The id must be the key's
// (wire.BoxID): a receipt or a typo naming one box with another key is
// refused, so nobody registers a key under a box's id. A box already
// registered with another key keeps it unless ReplaceKey is set.
func (s *Server) RegisterBox(req RegisterRequest) (Registration, error) {
	pub, err := wire.ParsePublicKey(req.Key)
	if err != nil {
		return Registration{}, err
	}
	if !wire.ValidBoxID(req.ID) {
		return Registration{}, fmt.Errorf("box id %q is not an Outpost box id (ob- and 16 hex digits)", req.ID)
	}
	keyID := wire.KeyID(pub)
	if own := wire.BoxID(pub); own != req.ID {
		return Registration{}, fmt.Errorf("key %s (key id %s) is the key of box %s, not of %s: a box's id is made from its key; check the receipt or `outpost bundle status` on the box", abbreviate(req.Key), keyID, own, req.ID)
	}
	if err := validSite(req.Site); err != nil {
		return Registration{}, err
	}
	key := wire.FormatPublicKey(pub)
	var r Registration
	err = s.db.Update(func(tx Tx) error {
		b, found, err := tx.Box(req.ID)
		if err != nil {
			return err
		}
		r = Registration{New: !found, KeyID: keyID}
		if !found {
			b = Box{ID: req.ID, Registered: s.clock.Now().UTC()}
		} else if b.Key != key {
			old := "unreadable"
			if p, err := wire.ParsePublicKey(b.Key); err == nil {
				old = wire.KeyID(p)
			}
			if !req.ReplaceKey {
				return fmt.Errorf("box %s is registered with key id %s; refusing to replace it with key id %s (check the box, then register again with --replace-key)", req.ID, old, keyID)
			}
			r.OldKeyID = old
		}
		b.Key = key
		if req.Site != "" {
			b.Site = req.Site
		}
		r.Box = b
		return tx.PutBox(b)
	})
	if err != nil {
		return Registration{}, err
	}
	if r.OldKeyID != "" {
		s.log.Warn("hq: box key replaced", "box", req.ID, "old_key", r.OldKeyID, "new_key", keyID)
	}
	return r, nil
}

// validSite is the bundle's rule for a site name.
func validSite(site string) error {
	if len(site) > 200 || strings.IndexFunc(site, unicode.IsControl) >= 0 {
		return fmt.Errorf("site name: at most 200 bytes, no control characters")
	}
	return nil
}

func abbreviate(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}
