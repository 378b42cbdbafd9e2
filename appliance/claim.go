package appliance

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"outpost/store"
	"outpost/ui"
)

// An unclaimed box (no UI account yet: first boot, or provisioned by a
// stick) must not make the first visitor on the LAN its administrator.
// Creating the first administrator takes the box's claim code: ten random
// digits, kept in a file in the data dir that only root reads, shown at
// the box by `outpost claim-code`; the store keeps only a bcrypt hash of
// it. Guesses are limited like logins (ui's limiter: per address, per
// account and for the box), which ten digits outlast by centuries. Once
// an administrator exists the code is spent: file and hash are removed.

// claimBlob holds the bcrypt hash of the claim code in force ("" once the
// box is claimed).
const claimBlob = "claim-code-hash"

// ClaimCodeFile is where an unclaimed box keeps its claim code.
func ClaimCodeFile(dataDir string) string { return filepath.Join(dataDir, "claim-code") }

// boxClaim is the daemon's ui.Claim.
type boxClaim struct {
	store      *store.Store
	file, data string
	log        *slog.Logger
}

var _ ui.Claim = (*boxClaim)(nil)

// firstBootClaim makes sure an unclaimed box has a claim code (the one
// from an earlier start if its file still matches the stored hash, else a
// new one) and that a claimed box has none lying around.
func (a *Appliance) firstBootClaim() (*boxClaim, error) {
	data := a.o.DataDir
	if abs, err := filepath.Abs(data); err == nil {
		data = abs
	}
	c := &boxClaim{store: a.store, file: ClaimCodeFile(data), data: data, log: a.log}
	n, err := a.store.CountUsers()
	if err != nil {
		return nil, fmt.Errorf("claim code: %w", err)
	}
	if n > 0 {
		return c, c.spend()
	}
	hash, err := a.store.GetBlob(claimBlob)
	if err != nil {
		return nil, fmt.Errorf("claim code: %w", err)
	}
	if old, err := os.ReadFile(c.file); err == nil && len(hash) > 0 && bcrypt.CompareHashAndPassword(hash, []byte(claimDigits(string(old)))) == nil {
		c.announce()
		return c, nil
	}
	code, err := newClaimCode()
	if err != nil {
		return nil, fmt.Errorf("claim code: %w", err)
	}
	if hash, err = bcrypt.GenerateFromPassword([]byte(claimDigits(code)), bcrypt.DefaultCost); err != nil {
		return nil, fmt.Errorf("claim code: %w", err)
	}
	if err := a.store.PutBlob(claimBlob, hash); err != nil {
		return nil, fmt.Errorf("claim code: %w", err)
	}
	if err := writePrivate(c.file, []byte(code+"\n")); err != nil {
		return nil, fmt.Errorf("claim code: %w", err)
	}
	c.announce()
	return c, nil
}

// announce says where the code is; never the code itself: logs travel
// (journal exports, support bundles) where the LAN may read them.
func (c *boxClaim) announce() {
	c.log.Warn("this box is unclaimed: creating its administrator in the web UI needs the claim code, readable at the box only",
		"file", c.file, "command", "outpost claim-code --data "+c.data)
}

// CheckClaimCode implements ui.Claim.
func (c *boxClaim) CheckClaimCode(code string) (bool, error) {
	d := claimDigits(code)
	if len(d) != 10 {
		return false, nil
	}
	hash, err := c.store.GetBlob(claimBlob)
	if err != nil || len(hash) == 0 {
		return false, err
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(d)) == nil, nil
}

// Claimed implements ui.Claim.
func (c *boxClaim) Claimed() error {
	if err := c.spend(); err != nil {
		return err
	}
	c.log.Info("the box is claimed: its claim code is removed", "file", c.file)
	return nil
}

// ClaimCodeHint implements ui.Claim.
func (c *boxClaim) ClaimCodeHint() ui.ClaimHint {
	return ui.ClaimHint{Command: "outpost claim-code --data " + c.data, File: c.file}
}

func (c *boxClaim) spend() error {
	if old, err := c.store.GetBlob(claimBlob); err != nil {
		return err
	} else if len(old) > 0 {
		if err := c.store.PutBlob(claimBlob, []byte{}); err != nil {
			return err
		}
	}
	if err := os.Remove(c.file); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// newClaimCode is ten random digits, written 12345-67890.
func newClaimCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(10_000_000_000))
	if err != nil {
		return "", err
	}
	v := n.Int64()
	return fmt.Sprintf("%05d-%05d", v/100_000, v%100_000), nil
}

// claimDigits is a typed code without its separators and spaces.
func claimDigits(code string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, code)
}

// writePrivate replaces path with data, readable by its owner only (the
// service user: root on the box).
func writePrivate(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".claim-code-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// unclaimedCode is the claim code while the box has no UI account, for
// the receipt written back to the stick that provisioned it ("" once
// claimed, or when the UI is off and no code was made).
func (a *Appliance) unclaimedCode() string {
	if n, err := a.store.CountUsers(); err != nil || n > 0 {
		return ""
	}
	data := a.o.DataDir
	if abs, err := filepath.Abs(data); err == nil {
		data = abs
	}
	b, err := os.ReadFile(ClaimCodeFile(data))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
