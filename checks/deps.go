package checks

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/gosnmp/gosnmp"

	"outpost/checks/agent/wire"
	"outpost/checks/clock"
)

// Deps are the runtime services a registered constructor hands to what it
// builds (a Checker, a remediation), as blackbox's ProbeFn gets its logger
// and Prometheus' NewDiscoverer its DiscovererOptions: the daemon's wiring
// fills them, so no kind reaches for a package global. Config validation
// builds with zero Deps, so a constructor keeps them and uses them only
// when its Checker runs.
type Deps struct {
	// Clock is the daemon's clock (real time when nil).
	Clock clock.Clock
	// Log is the daemon's logger (discarding when nil).
	Log *slog.Logger
	// SNMP is the daemon's SNMP session pool (checks/snmp.Poller); nil
	// where no SNMP is wired, and SNMP checks then report so.
	SNMP SNMPPoller
	// Agents is the box's agent client (checks/agent.Client); nil where
	// agent mode does not run, and agent checks then report so.
	Agents AgentQuerier
	// Store reports the daemon's store (store.Store, through the
	// wiring); nil where no daemon keeps one, and the store check then
	// says so.
	Store StoreHealth
	// Events reads the stored traps and syslog lines (the store); nil
	// where no daemon keeps them, and log_match checks then report so.
	Events EventReader
	// Keeper keeps events checks collect (the store); nil where no
	// daemon keeps them, and those checks only count.
	Keeper EventKeeper
	// Backups is what backup jobs reported to their dead-man's switch
	// (the store); nil where no daemon keeps pings, and backup checks
	// then report so.
	Backups BackupPings
	// Series reads checks' stored values as rollups (the store, through
	// the wiring); nil where no daemon keeps them, and forecast checks
	// then say so.
	Series SeriesReader
	// Inventory reads the discovery inventory's changes (the store,
	// through the wiring); nil where no daemon keeps one, and
	// inventory_change checks then say so.
	Inventory InventoryReader
}

// WithDefaults fills a nil Clock and Log.
func (d Deps) WithDefaults() Deps {
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return d
}

// SNMPPoller reaches configured devices over SNMP, sharing sessions and
// answers between the checks of a device (checks/snmp.Poller).
type SNMPPoller interface {
	// Source is where dev's requests go; answers are shared for at most
	// maxAge. A device without valid SNMP access gives a Source whose
	// every request fails saying why.
	Source(dev *Device, maxAge time.Duration) SNMPSource
	// Set writes values to dev in one request and returns the agent's
	// refusal (an error status) or the transport's failure; it honours
	// ctx's deadline.
	Set(ctx context.Context, dev *Device, pdus ...gosnmp.SnmpPDU) error
}

// SNMPSource answers SNMP requests for one device.
type SNMPSource interface {
	// Get fetches OIDs in one request.
	Get(ctx context.Context, oids ...string) ([]gosnmp.SnmpPDU, error)
	// Table walks columns (or subtrees) together, each root's PDUs in OID
	// order.
	Table(ctx context.Context, roots ...string) (map[string][]gosnmp.SnmpPDU, error)
}

// AgentQuerier asks Outpost agents on the site's servers
// (checks/agent.Client).
type AgentQuerier interface {
	// Query asks the named agent one question and honours ctx's deadline.
	// Errors are transport failures or refusals (not paired, revoked);
	// a measurement the agent could not make is Answer.Error.
	Query(ctx context.Context, agent string, q wire.Query) (wire.Answer, error)
}

// ErrNoAgent is what reaching an agent fails with (wrapped) while no
// agent is paired or configured for a device: healing's agent actions
// fail with it, and checks/agent's client returns it.
var ErrNoAgent = errors.New("no agent connected")

// AgentCommander reaches the Outpost agents running on the site's
// servers to change something there (checks/agent.Client); healing's
// Runner is given one with Runner.SetAgents, and without one agent
// actions fail with ErrNoAgent.
type AgentCommander interface {
	// RestartService restarts a Windows service or a systemd unit on the
	// device's agent and returns what the agent reported. It returns an
	// error wrapping ErrNoAgent when that device has no connected agent,
	// and honours ctx's deadline.
	RestartService(ctx context.Context, device, service string) (output string, err error)
}

// AgentPairing is one paired agent as the box remembers it: the
// certificate it pinned at pairing, and whether the pairing was revoked.
// The store keeps it as JSON under these field names (store.AgentRecord).
type AgentPairing struct {
	Name string `json:"name"`
	// CertFingerprint is the SHA-256 of the agent's certificate; the box
	// talks to nothing else under this name.
	CertFingerprint string `json:"cert_fingerprint"`
	// Address is where the agent serves (from the config, or learnt at
	// pairing when the config gives none).
	Address  string    `json:"address"`
	Hostname string    `json:"hostname"`
	OS       string    `json:"os"`
	PairedAt time.Time `json:"paired_at"`
	// RevokedAt is set when a technician revoked the pairing; a revoked
	// agent is refused until paired again.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// LastSeen is the last successful contact (kept apart by the store).
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// Revoked reports whether the pairing was revoked.
func (r AgentPairing) Revoked() bool { return !r.RevokedAt.IsZero() }

// AgentInventory is the latest inventory an agent sent, as JSON in the
// agent protocol's shape (the store does not interpret it).
type AgentInventory struct {
	Name      string          `json:"name"`
	Collected time.Time       `json:"collected"`
	Data      json.RawMessage `json:"data"`
}
