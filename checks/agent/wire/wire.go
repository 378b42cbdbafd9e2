// Package wire is the protocol between an Outpost box and its agents: the
// JSON messages both sides exchange over mutually authenticated TLS, the
// pairing exchange (CPace over the pair code, pair.go), signed
// revocations, and the self-signed certificates whose SHA-256
// fingerprints each side pins at pairing. It sits below both the box side
// (checks/agent) and the agent daemon (appliance/agent) so neither
// imports the other.
package wire

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// Version is the protocol version; a peer answering another one is
// refused. Version 2 pairs with CPace and revokes with signed statements.
const Version = 2

// Paths served by the agent (box -> agent) and by the box (agent -> box).
const (
	PathPair      = "/agent/pair" // on the box, reached once per pairing
	PathInfo      = "/v1/info"
	PathQuery     = "/v1/query"
	PathCommand   = "/v1/command"
	PathPolicy    = "/v1/policy"
	PathRevoke    = "/v1/revoke" // takes a signed Revocation; no pinned client certificate needed
	PathInventory = "/v1/inventory"
)

// Header names.
const (
	// HeaderAgentError carries a machine-readable refusal code, so the box
	// can tell "not paired" from a failing check.
	HeaderAgentError = "X-Outpost-Agent-Error"
)

// Refusal codes an agent answers with (HTTP 403 plus HeaderAgentError).
const (
	RefusedNotPaired  = "not-paired"
	RefusedWrongBox   = "wrong-box"
	RefusedNotAllowed = "not-allowed"
	RefusedReplay     = "replay"
	RefusedStale      = "stale"
)

// Error is the JSON body of every refusal or failure.
type Error struct {
	Code  string `json:"code,omitempty"`
	Error string `json:"error"`
}

// Policy is an allow-list. The agent's own (set on the server, in its
// allow.yaml) says what the box may ask for at all; the box's (from its
// config, sent at pairing and after every change) can only narrow it:
// the agent acts only on what both allow.
type Policy struct {
	Services []string `json:"services"`
	Scripts  []Script `json:"scripts"`
	// Logs are the logs the box may read (the agent's list only: Windows
	// log names, "journal", or absolute paths of log files).
	Logs []string `json:"logs,omitempty"`
	// Folders are the folders whose size the box may read (the agent's
	// list only: absolute paths).
	Folders []string `json:"folders,omitempty"`
}

// Script is an allow-listed program the box may ask the agent to run, by
// name. It runs without a shell, with exactly these arguments.
type Script struct {
	Name    string   `json:"name"`
	Command string   `json:"command"`
	Args    []string `json:"args,omitempty"`
}

// AllowsService reports whether the service (case-insensitive, as Windows
// service names are) is on the list.
func (p Policy) AllowsService(name string) bool {
	for _, s := range p.Services {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// Script returns the allow-listed script with that name.
func (p Policy) Script(name string) (Script, bool) {
	for _, s := range p.Scripts {
		if s.Name == name {
			return s, true
		}
	}
	return Script{}, false
}

// Info is the agent's answer to PathInfo.
type Info struct {
	Version  int    `json:"version"`
	Name     string `json:"name"`
	Hostname string `json:"hostname"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Agent    string `json:"agent"` // outpost version
}

// Command actions.
const (
	ActionRestart = "restart"
	ActionStart   = "start"
	ActionStop    = "stop"
	ActionScript  = "script"
)

// Command asks the agent to act. Nonce and Time make every command
// single-use: the agent refuses a nonce it has seen and a time outside
// its window, on top of what TLS already guarantees.
type Command struct {
	Action string    `json:"action"`
	Target string    `json:"target"`
	Nonce  string    `json:"nonce"`
	Time   time.Time `json:"time"`
}

// CommandResult is what the agent did.
type CommandResult struct {
	OK     bool   `json:"ok"`
	Output string `json:"output"`
}

// Query asks the agent for one measurement; Kind selects which fields
// matter.
type Query struct {
	Kind string `json:"kind"` // service, disk, cpu, memory, uptime, process, eventlog, perf, folder
	// Name is the service/unit, process name, volume ("" = every volume)
	// or folder (an absolute path).
	Name string `json:"name,omitempty"`
	// Event log query.
	Events *EventQuery `json:"events,omitempty"`
	// Perf query.
	Perf *PerfQuery `json:"perf,omitempty"`
}

// Query kinds.
const (
	QueryService  = "service"
	QueryDisk     = "disk"
	QueryCPU      = "cpu"
	QueryMemory   = "memory"
	QueryUptime   = "uptime"
	QueryProcess  = "process"
	QueryEventLog = "eventlog"
	QueryPerf     = "perf"
	QueryFolder   = "folder"
)

// Answer is the agent's reply to a Query: exactly one field is set, or
// Error says why the measurement failed (a per-check error, never fatal).
type Answer struct {
	Error     string       `json:"error,omitempty"`
	Service   *Service     `json:"service,omitempty"`
	Volumes   []Volume     `json:"volumes,omitempty"`
	CPU       *CPU         `json:"cpu,omitempty"`
	Memory    *Memory      `json:"memory,omitempty"`
	Uptime    *Uptime      `json:"uptime,omitempty"`
	Processes *ProcessList `json:"processes,omitempty"`
	Events    *EventBatch  `json:"events,omitempty"`
	Perf      *PerfValue   `json:"perf,omitempty"`
	Folder    *Folder      `json:"folder,omitempty"`
}

// Folder is the size of a folder and everything under it (symbolic
// links and junctions are counted, not followed).
type Folder struct {
	Path  string `json:"path"`
	Bytes uint64 `json:"bytes"`
	Files int    `json:"files"`
	// Truncated: the walk stopped at the agent's bound on entries (or
	// its deadline); Bytes is then a lower bound.
	Truncated bool `json:"truncated,omitempty"`
	// Skipped counts entries that could not be read (no permission).
	Skipped int `json:"skipped,omitempty"`
	// Newest is the most recently modified regular file the walk saw
	// (nil when it saw none, or from an agent older than this field):
	// its time and size, never its name, for agent_backup_target.
	Newest *NewestFile `json:"newest,omitempty"`
}

// NewestFile is the modification time and size of a folder's newest
// file.
type NewestFile struct {
	Modified time.Time `json:"modified"`
	Bytes    uint64    `json:"bytes"`
}

// Service is a Windows service or a systemd unit.
type Service struct {
	Name string `json:"name"`
	// Found is false when no such service exists.
	Found bool `json:"found"`
	// State is normalised to running, stopped, starting, stopping, failed
	// or paused; Raw is what the OS said.
	State string `json:"state"`
	Raw   string `json:"raw"`
	// StartMode is auto, manual, disabled (or systemd's enablement).
	StartMode string `json:"start_mode"`
}

// Volume is one mounted filesystem or drive.
type Volume struct {
	Name  string `json:"name"` // "C:" or "/"
	Label string `json:"label,omitempty"`
	FS    string `json:"fs,omitempty"`
	Total uint64 `json:"total"`
	Free  uint64 `json:"free"` // available to unprivileged users
	// Used is the space in use; 0 means Total-Free (Windows, where no
	// blocks are reserved). Linux reports it apart because root-reserved
	// blocks are neither used nor available.
	Used uint64 `json:"used,omitempty"`
}

// UsedPercent is the share of the volume in use, as df's Use% shows it:
// used / (used + available), so reserved blocks do not count as used.
func (v Volume) UsedPercent() float64 {
	used := v.Used
	if used == 0 && v.Total >= v.Free {
		used = v.Total - v.Free
	}
	if used+v.Free == 0 {
		return 0
	}
	return 100 * float64(used) / float64(used+v.Free)
}

// CPU is the busy share over the sample window.
type CPU struct {
	Percent float64       `json:"percent"`
	Window  time.Duration `json:"window"`
	Cores   int           `json:"cores"`
}

// Memory is physical memory use.
type Memory struct {
	Total     uint64 `json:"total"`
	Available uint64 `json:"available"`
}

// Uptime is when the machine last booted.
type Uptime struct {
	BootTime time.Time     `json:"boot_time"`
	Uptime   time.Duration `json:"uptime"`
}

// ProcessList is the processes matching a name.
type ProcessList struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	PIDs  []int  `json:"pids,omitempty"`
}

// EventQuery selects event log entries (Windows) or log lines (Linux).
type EventQuery struct {
	// Log is the Windows log (Application, System) or, on Linux,
	// "journal" or an absolute path to a syslog file.
	Log string `json:"log"`
	// Windows filters.
	Source   string `json:"source,omitempty"`
	EventIDs []int  `json:"event_ids,omitempty"`
	// Level is the least severe level wanted: error, warning, information.
	Level string `json:"level,omitempty"`
	// Unit filters the journal by systemd unit.
	Unit string `json:"unit,omitempty"`
	// Pattern is a regular expression the message must match.
	Pattern string `json:"pattern,omitempty"`
	// Cursor is where the last poll stopped ("" = start now, report
	// nothing older).
	Cursor string `json:"cursor,omitempty"`
	// Max caps the entries returned (the count still counts them all).
	Max int `json:"max,omitempty"`
}

// EventBatch is what matched since the cursor.
type EventBatch struct {
	Count   int     `json:"count"`
	Entries []Event `json:"entries,omitempty"`
	Cursor  string  `json:"cursor"`
}

// Event is one matching entry.
type Event struct {
	Time    time.Time `json:"time"`
	Source  string    `json:"source"`
	ID      int       `json:"id,omitempty"`
	Level   string    `json:"level"`
	Message string    `json:"message"`
}

// PerfQuery reads one numeric property of a WMI class (performance
// counters are Win32_PerfFormattedData_* classes).
type PerfQuery struct {
	Class    string `json:"class"`
	Property string `json:"property"`
	// Instance selects the row whose Name equals it ("" = the first row,
	// for single-instance classes).
	Instance string `json:"instance,omitempty"`
	// Namespace defaults to root\cimv2.
	Namespace string `json:"namespace,omitempty"`
}

// PerfValue is the property's value.
type PerfValue struct {
	Value float64 `json:"value"`
	Rows  int     `json:"rows"`
}

// Inventory is what the agent knows about its machine.
type Inventory struct {
	Collected time.Time `json:"collected"`
	Hostname  string    `json:"hostname"`
	OS        OSInfo    `json:"os"`
	CPU       string    `json:"cpu"`
	Cores     int       `json:"cores"`
	RAM       uint64    `json:"ram"`
	Serial    string    `json:"serial,omitempty"`
	BootTime  time.Time `json:"boot_time"`
	Apps      []App     `json:"apps"`
	Patches   []Patch   `json:"patches"`
	// Problems lists the parts that could not be read, and why.
	Problems []string `json:"problems,omitempty"`
}

// OSInfo names the operating system.
type OSInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Build   string `json:"build,omitempty"`
}

// App is an installed application or package.
type App struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Publisher string `json:"publisher,omitempty"`
}

// Patch is an installed hotfix (Windows) or a pending upgrade (Linux,
// Pending true).
type Patch struct {
	ID          string `json:"id"`
	Description string `json:"description,omitempty"`
	Installed   string `json:"installed,omitempty"`
	Pending     bool   `json:"pending,omitempty"`
}

// Fingerprint is "sha256:" and the hex SHA-256 of a DER certificate.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// SameFingerprint compares certificate fingerprints written either way a
// technician meets them: "sha256:" and lower-case hex (agent mode), or
// colon-separated upper-case hex (the web UI's settings page).
func SameFingerprint(a, b string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		s = strings.TrimPrefix(s, "sha256:")
		return strings.ReplaceAll(s, ":", "")
	}
	return norm(a) != "" && norm(a) == norm(b)
}

// Validity of pairing identities, the same as the box's UI certificate
// (appliance/tlscert.go says why): fixed, whatever the clock reads when
// the identity is made, because a box or agent without a real-time clock
// may make it while its clock reads 1970. Peers trust the pinned
// fingerprint and never check these dates (VerifyPinned does not; the
// agent's server side uses tls.RequireAnyClientCert, which does not
// verify the certificate at all), but a certificate that expired in 1990
// would still confuse anyone reading it. NotBefore is the Unix epoch, the
// earliest time such a clock reads; NotAfter is RFC 5280's "no
// well-defined expiration date".
var (
	identityNotBefore = time.Unix(0, 0).UTC()
	identityNotAfter  = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// NewIdentity makes a self-signed ECDSA P-256 certificate for name, valid
// from 1970 to 9999 (its fingerprint, not its dates, is what peers
// trust), returned as one PEM holding certificate and key.
func NewIdentity(name string) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"Outpost agent pairing"}},
		NotBefore:    identityNotBefore,
		NotAfter:     identityNotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"outpost-agent"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})...)
	return out, nil
}

// LoadIdentity parses a PEM made by NewIdentity.
func LoadIdentity(pemBytes []byte) (tls.Certificate, error) {
	c, err := tls.X509KeyPair(pemBytes, pemBytes)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading pairing identity: %w", err)
	}
	return c, nil
}

// ErrPinMismatch is returned when a peer presents a certificate other
// than the pinned one.
var ErrPinMismatch = errors.New("peer certificate does not match the pinned fingerprint")

// VerifyPinned returns a tls.Config.VerifyConnection that accepts only the
// pinned certificate. who names the peer in the error. It compares the
// fingerprint only: no dates, so neither side's clock matters (it is
// used with InsecureSkipVerify, which leaves dates unchecked too).
func VerifyPinned(who, pinned string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%s presented no certificate", who)
		}
		got := Fingerprint(cs.PeerCertificates[0].Raw)
		if got != pinned {
			return fmt.Errorf("%s presented certificate %s but %s was pinned at pairing (re-pair it if it was reinstalled): %w", who, short(got), short(pinned), ErrPinMismatch)
		}
		return nil
	}
}

func short(fp string) string {
	if len(fp) > 23 {
		return fp[:23] + "…"
	}
	return fp
}

// ReadError turns a non-2xx answer from the other side (box or agent)
// into an error carrying the peer's message.
func ReadError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e Error
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		return errors.New(e.Error)
	}
	return fmt.Errorf("answered %s", resp.Status)
}
