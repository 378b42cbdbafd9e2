// Package phonehome sends the box's summaries to the MSP over HTTPS
// (store first, send after, in order, until acknowledged) and defines
// what both ends speak: the summary, the signed request and the reply.
// `outpost hq` (appliance/hq) is the receiving end.
package phonehome

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"outpost/store"
)

// Schema names the summary format (docs/phone-home.schema.json).
const Schema = "outpost-summary/1"

// Summary is what the box reports every interval and on important
// changes.
type Summary struct {
	Schema string    `json:"schema"`
	Box    Box       `json:"box"`
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	// Reason is why it was built: interval, incident_opened,
	// incident_resolved, inventory_request or start.
	Reason string `json:"reason"`
	// Interval is the box's summary interval in seconds: the receiver
	// flags a box silent for three of them.
	Interval int    `json:"interval_s"`
	Health   Health `json:"health"`
	// OpenIncidents are every open incident with its timeline;
	// ClosedIncidents those resolved since the previous summary.
	OpenIncidents   []Incident `json:"open_incidents"`
	ClosedIncidents []Incident `json:"closed_incidents"`
	SLA             SLA        `json:"sla"`
	Inventory       Inventory  `json:"inventory"`
	Capacity        []Capacity `json:"capacity"`
	BoxHealth       BoxHealth  `json:"box_health"`
	// Lost counts summaries the box dropped (outbox quota reached during
	// a long outage), ever; the receiver shows the newest figure.
	Lost Lost `json:"lost"`
}

// Box identifies the sender.
type Box struct {
	ID           string `json:"id"`
	Version      string `json:"version"`
	PublicKey    string `json:"public_key"`
	Site         string `json:"site"`
	UICertSHA256 string `json:"ui_cert_sha256"`
}

// Health counts checks by status.
type Health struct {
	Checks   int `json:"checks"`
	OK       int `json:"ok"`
	Warning  int `json:"warning"`
	Critical int `json:"critical"`
	Unknown  int `json:"unknown"`
	Pending  int `json:"pending"`
}

// Incident is an incident as the MSP sees it.
type Incident struct {
	ID         uint64          `json:"id"`
	Check      string          `json:"check"`
	Device     string          `json:"device"`
	Severity   string          `json:"severity"`
	State      string          `json:"state"`
	Summary    string          `json:"summary"`
	Opened     time.Time       `json:"opened"`
	Acked      *time.Time      `json:"acked,omitempty"`
	AckedBy    string          `json:"acked_by,omitempty"`
	Resolved   *time.Time      `json:"resolved,omitempty"`
	Resolution string          `json:"resolution,omitempty"`
	Timeline   []TimelineEntry `json:"timeline"`
}

// TimelineEntry is one line of an incident's timeline.
type TimelineEntry struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	Text string    `json:"text"`
}

// SLA figures over a window (the last 30 days).
type SLA struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// UptimePercent is the share of check-time without an open incident.
	UptimePercent float64 `json:"uptime_percent"`
	Incidents     int     `json:"incidents"`
	// Acknowledged and Resolved count the incidents the means are over.
	Acknowledged int `json:"acknowledged"`
	Resolved     int `json:"resolved"`
	// MeanTimeToAck and MeanTimeToResolve are in seconds, over the
	// incidents acknowledged / resolved in the window (0 when none).
	MeanTimeToAck     float64 `json:"mean_time_to_ack_s"`
	MeanTimeToResolve float64 `json:"mean_time_to_resolve_s"`
}

// Inventory is the change in devices since the last summary (and every
// device when the MSP asked for a full inventory).
type Inventory struct {
	New     []Device `json:"new"`
	Gone    []string `json:"gone"`
	Changed []Device `json:"changed"`
	Full    []Device `json:"full,omitempty"`
}

// Device is one monitored device and what the box knows of it.
type Device struct {
	Name   string            `json:"name"`
	Class  string            `json:"class,omitempty"`
	Checks int               `json:"checks"`
	Facts  map[string]string `json:"facts,omitempty"`
}

// Capacity is a capacity warning (disk, memory, storage filling up).
type Capacity struct {
	Check  string  `json:"check"`
	Device string  `json:"device"`
	Status string  `json:"status"`
	Value  float64 `json:"value"`
	Detail string  `json:"detail"`
}

// BoxHealth is the box's own state.
type BoxHealth struct {
	StoreBytes    int64   `json:"store_bytes"`
	LatenessP99Ms float64 `json:"lateness_p99_ms"`
	OutboxDepth   int     `json:"outbox_depth"`
	UptimeSeconds int64   `json:"uptime_s"`
	LastUSB       *Event  `json:"last_usb,omitempty"`
	LastFirmware  *Event  `json:"last_firmware,omitempty"`
	// Clock is the box's own clock as its clock check last judged it: a
	// box whose clock is wrong stamps everything it reports wrongly (hq
	// files summaries by its own clock either way).
	Clock *Clock `json:"clock,omitempty"`
}

// Clock is the state of the box's own clock.
type Clock struct {
	Check string `json:"check,omitempty"`
	// Sync is "synchronised", "not synchronised" or "unknown" (no time
	// source on the box could tell).
	Sync    string    `json:"sync"`
	Status  string    `json:"status,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	Checked time.Time `json:"checked,omitzero"`
}

// Event is a dated happening with its result.
type Event struct {
	Time   time.Time `json:"time"`
	Result string    `json:"result"`
	Detail string    `json:"detail"`
}

// Lost reports summaries dropped by the outbox quota, ever: how many,
// which sequence numbers (first to last: gaps are ones that arrived),
// and the figures they carried that no later summary repeats, coalesced.
// Open incidents are not among them: every summary lists them all.
type Lost struct {
	Total            uint64 `json:"total"`
	FirstSeq         uint64 `json:"first_seq,omitempty"`
	LastSeq          uint64 `json:"last_seq,omitempty"`
	IncidentsClosed  uint64 `json:"incidents_closed"`
	InventoryNew     uint64 `json:"inventory_new"`
	InventoryGone    uint64 `json:"inventory_gone"`
	InventoryChanged uint64 `json:"inventory_changed"`
}

// Names of the coalesced figures in the outbox bookkeeping.
const (
	lostIncidentsClosed  = "incidents_closed"
	lostInventoryNew     = "inventory_new"
	lostInventoryGone    = "inventory_gone"
	lostInventoryChanged = "inventory_changed"
)

func lostOf(m store.PhoneMeta) Lost {
	return Lost{Total: m.Lost, FirstSeq: m.LostFirst, LastSeq: m.LostLast,
		IncidentsClosed:  m.LostCounts[lostIncidentsClosed],
		InventoryNew:     m.LostCounts[lostInventoryNew],
		InventoryGone:    m.LostCounts[lostInventoryGone],
		InventoryChanged: m.LostCounts[lostInventoryChanged]}
}

// Fold is what a summary dropped by the quota leaves behind: its
// one-time figures, and whether it carried inventory changes (the box
// then sends a full inventory next). A summary that cannot be read
// leaves only its count.
func Fold(body []byte) (map[string]uint64, bool) {
	s, err := Decode(body)
	if err != nil {
		return nil, false
	}
	inv := s.Inventory
	return map[string]uint64{
		lostIncidentsClosed:  uint64(len(s.ClosedIncidents)),
		lostInventoryNew:     uint64(len(inv.New)),
		lostInventoryGone:    uint64(len(inv.Gone)),
		lostInventoryChanged: uint64(len(inv.Changed)),
	}, len(inv.New)+len(inv.Gone)+len(inv.Changed) > 0
}

// Reply is the receiver's answer to an accepted summary.
type Reply struct {
	// Ack is the sequence number stored (or already stored).
	Ack       uint64 `json:"ack"`
	Duplicate bool   `json:"duplicate,omitempty"`
	// Bundle is a signed provisioning bundle (the USB format), applied
	// only when signed by the MSP key the box pinned.
	Bundle []byte `json:"bundle,omitempty"`
	// Firmware announces a firmware version, signed by the MSP key.
	Firmware *FirmwareNotice `json:"firmware,omitempty"`
	// Inventory asks for a full inventory in the next summary.
	Inventory bool `json:"inventory,omitempty"`
}

// FirmwareNotice says a firmware version is available.
type FirmwareNotice struct {
	Version string `json:"version"`
	URL     string `json:"url"`
	SHA256  string `json:"sha256"`
	// Signature is ed25519 over NoticeBytes, by the MSP key.
	Signature []byte `json:"signature"`
}

// NoticeBytes is what a firmware notice's signature covers.
func (n FirmwareNotice) NoticeBytes() []byte {
	return []byte("outpost-firmware-notice/1\n" + n.Version + "\n" + n.URL + "\n" + n.SHA256)
}

// Request headers.
const (
	HeaderBox       = "X-Outpost-Box"
	HeaderSeq       = "X-Outpost-Seq"
	HeaderTime      = "X-Outpost-Time"
	HeaderSignature = "X-Outpost-Signature"
	HeaderIdem      = "Idempotency-Key"
)

// IdempotencyKey names one summary of one box.
func IdempotencyKey(box string, seq uint64) string { return box + "-" + strconv.FormatUint(seq, 10) }

// SignedBytes is what the box signs for a request: the box, the
// sequence number, the time and the SHA-256 of the body as sent.
func SignedBytes(box string, seq uint64, at string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return []byte(fmt.Sprintf("outpost-phonehome/1\n%s\n%d\n%s\n%x", box, seq, at, sum))
}

// Verify checks a request's signature with the box's registered key.
func Verify(pub ed25519.PublicKey, box string, seq uint64, at, sig string, body []byte) error {
	s, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(s) != ed25519.SignatureSize {
		return errors.New("signature header is not a base64 ed25519 signature")
	}
	if !ed25519.Verify(pub, SignedBytes(box, seq, at, body), s) {
		return errors.New("signature does not verify with the box's registered key")
	}
	return nil
}
