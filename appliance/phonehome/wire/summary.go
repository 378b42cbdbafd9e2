// Package wire is phone home's protocol, what the box and the MSP's
// receiver (`outpost hq`) both speak: the summary and its gzip'd JSON
// encoding, the signed request (headers, what is signed, verification),
// the reply with its firmware notice, and the text form of the box's
// public key. It imports only the standard library, so the receiver and
// its pages depend on it and on nothing of the box (docs/phone-home.md;
// docs/phone-home.schema.json is the summary's JSON Schema).
package wire

import "time"

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
	// incident_resolved, inventory_request, command or start.
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
	// Commands are the receiver's commands the box has handled, with what
	// became of each, listed in every summary until a reply no longer
	// carries them: the receiver keeps a command pending until a summary
	// lists it.
	Commands []CommandResult `json:"commands,omitempty"`
	// Backups are the site's backup jobs (docs/backups.md), absent when
	// it has none.
	Backups []Backup `json:"backups,omitempty"`
}

// Backup is one backup job in a summary: its verdict now, its last
// success and failure, and its runs over the SLA window.
type Backup struct {
	Check    string `json:"check"`
	Device   string `json:"device,omitempty"`
	Schedule string `json:"schedule"`
	Status   string `json:"status"`
	Detail   string `json:"detail"`
	// LastSuccess and LastFailure are absent when there was none.
	LastSuccess *time.Time `json:"last_success,omitempty"`
	LastFailure *time.Time `json:"last_failure,omitempty"`
	// Runs and Failed count the runs that finished within the SLA
	// window; SuccessPercent is the share that succeeded (100 when
	// none ran).
	Runs           int     `json:"runs"`
	Failed         int     `json:"failed"`
	SuccessPercent float64 `json:"success_percent"`
}

// MaxCommandResults bounds the command results a summary carries (and
// the receiver reads).
const MaxCommandResults = 64

// Command results.
const (
	CommandDone    = "done"
	CommandRefused = "refused"
)

// CommandResult is what the box did with one of the receiver's commands.
type CommandResult struct {
	ID uint64 `json:"id"`
	// Kind is the command's kind (KindBundle, ...), empty when it had
	// none it could tell.
	Kind string `json:"kind,omitempty"`
	// Result is CommandDone or CommandRefused; Detail says what was done
	// or why it was refused.
	Result string    `json:"result"`
	Detail string    `json:"detail,omitempty"`
	Time   time.Time `json:"time"`
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
	// Discovered are the changes discovery sweeps saw since the last
	// summary, oldest first, at most MaxDiscovered (the newest);
	// DiscoveredOmitted counts older ones left out. Absent when none
	// (and from boxes older than the field).
	Discovered        []DiscoveryChange `json:"discovered,omitempty"`
	DiscoveredOmitted int               `json:"discovered_omitted,omitempty"`
}

// MaxDiscovered bounds Inventory.Discovered.
const MaxDiscovered = 500

// DiscoveryChange is one change a discovery sweep saw on the site:
// new_device, device_gone, device_back, mac_moved, ip_claimed or
// firmware_changed.
type DiscoveryChange struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	IP     string    `json:"ip"`
	MAC    string    `json:"mac,omitempty"`
	OldIP  string    `json:"old_ip,omitempty"`
	Detail string    `json:"detail"`
}

// Device is one monitored device and what the box knows of it.
type Device struct {
	Name   string            `json:"name"`
	Class  string            `json:"class,omitempty"`
	Checks int               `json:"checks"`
	Facts  map[string]string `json:"facts,omitempty"`
}

// Capacity is a series in capacity trouble: a disk, memory or storage
// check in warning or critical now, or any series with thresholds
// forecast to cross one within the box's horizon (or past one already,
// or growing much faster than its history). Status, Value and Detail are
// the check's latest result (Status "ok" or "unknown" for a series that
// is only forecast to be in trouble). Forecast is absent from boxes
// older than forecasts and while a series is still learning.
type Capacity struct {
	Check    string    `json:"check"`
	Device   string    `json:"device"`
	Status   string    `json:"status"`
	Value    float64   `json:"value"`
	Detail   string    `json:"detail"`
	Forecast *Forecast `json:"forecast,omitempty"`
}

// Forecast is a series' trend and its next threshold crossing
// (docs/reports.md says how they are computed).
type Forecast struct {
	// What the value is ("used %", "supply left %"); Below: the series
	// alarms when it falls.
	What  string `json:"what"`
	Below bool   `json:"below,omitempty"`
	// Method names the estimator; Level is the trend's value now and
	// PerDay its slope, in the value's units per day.
	Method string  `json:"method"`
	Level  float64 `json:"level"`
	PerDay float64 `json:"per_day"`
	// Crossing names the next threshold ahead ("warning" or "critical";
	// empty: none ahead) with its value, when (At), and in how many days
	// (DaysLo to DaysHi, the 90 % range; DaysHi 0: no upper bound, the
	// trend is not significant).
	Crossing  string     `json:"crossing,omitempty"`
	Threshold float64    `json:"threshold,omitempty"`
	At        *time.Time `json:"at,omitempty"`
	Days      float64    `json:"days,omitempty"`
	DaysLo    float64    `json:"days_lo,omitempty"`
	DaysHi    float64    `json:"days_hi,omitempty"`
	// Past names the worst threshold the series is beyond already.
	Past string `json:"past,omitempty"`
	// Growing: the last day grew much faster (GrowthPerDay) than the
	// history before it (BaselinePerDay).
	Growing        bool    `json:"growing,omitempty"`
	GrowthPerDay   float64 `json:"growth_per_day,omitempty"`
	BaselinePerDay float64 `json:"baseline_per_day,omitempty"`
	// Text says it all for people: "box-disk (/) on outpost: used %
	// reaches warning 80 in 5 days".
	Text string `json:"text"`
}

// BoxHealth is the box's own state.
type BoxHealth struct {
	StoreBytes    int64   `json:"store_bytes"`
	LatenessP99Ms float64 `json:"lateness_p99_ms"`
	OutboxDepth   int     `json:"outbox_depth"`
	UptimeSeconds int64   `json:"uptime_s"`
	// ChecksBehind counts the checks missing their schedule: their last
	// planned run was dropped because the workers were busy (hanging
	// targets), as /healthz says.
	ChecksBehind int    `json:"checks_behind,omitempty"`
	LastUSB      *Event `json:"last_usb,omitempty"`
	LastFirmware *Event `json:"last_firmware,omitempty"`
	// Clock is the box's own clock as its clock check last judged it: a
	// box whose clock is wrong stamps everything it reports wrongly (hq
	// files summaries by its own clock either way).
	Clock *Clock `json:"clock,omitempty"`
	// NotifyFailing are the box's notification channels whose recent
	// attempts failed: while it also has critical incidents open, nobody
	// may have been told of them (hq raises that).
	NotifyFailing []ChannelFailure `json:"notify_failing,omitempty"`
}

// ChannelFailure is a notification channel of the box that fails.
type ChannelFailure struct {
	Channel  string    `json:"channel"`
	Failures int       `json:"failures"`
	Since    time.Time `json:"since"`
	Error    string    `json:"error,omitempty"`
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
	// InventoryDiscovered counts the discovery changes they carried.
	InventoryDiscovered uint64 `json:"inventory_discovered,omitempty"`
}
