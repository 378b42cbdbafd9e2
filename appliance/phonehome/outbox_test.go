package phonehome_test

import (
	"context"

	"outpost/appliance/phonehome"
	"outpost/firmware/provision"
	"outpost/store"
)

// storeOutbox is the store as the outbox, as the daemon adapts it
// (appliance/phonehome.go).
type storeOutbox struct{ *store.Store }

func (o storeOutbox) PhoneAppend(quota int64, builtAt string, build func(uint64, phonehome.Meta) ([]byte, map[string]string, error), fold func([]byte) (map[string]uint64, bool)) (uint64, error) {
	return o.Store.PhoneAppend(quota, builtAt, func(seq uint64, m store.PhoneMeta) ([]byte, map[string]string, error) {
		return build(seq, phonehome.Meta(m))
	}, fold)
}

func (o storeOutbox) PhoneOldest() (phonehome.Entry, bool, error) {
	e, ok, err := o.Store.PhoneOldest()
	return phonehome.Entry(e), ok, err
}

func (o storeOutbox) PhoneMeta() (phonehome.Meta, error) {
	m, err := o.Store.PhoneMeta()
	return phonehome.Meta(m), err
}

// provBundles is the provisioner as phone home's Bundles, as the daemon
// adapts it.
type provBundles struct{ *provision.Provisioner }

func (b provBundles) Apply(ctx context.Context, data []byte, source string) error {
	_, err := b.ApplyBundle(ctx, data, source)
	return err
}

// blobCommands keeps phone home's command record in a store blob, as
// the daemon does.
type blobCommands struct{ *store.Store }

func (c blobCommands) LoadPhoneCommands() ([]byte, error) { return c.GetBlob("phonehome-commands") }
func (c blobCommands) SavePhoneCommands(state []byte) error {
	return c.PutBlob("phonehome-commands", state)
}
