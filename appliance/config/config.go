// Package config reads Outpost's site configuration: one strict YAML file
// whose every error names the file, line and field. It knows only the
// shared vocabulary (package checks): the check kinds are looked up in the
// checks registry, devices, SNMP access and agents are the vocabulary's
// types with their own defaults and validation, and the sections a
// feature owns (notify:, healing:) are decoded into the types the feature
// registered (checks.RegisterSection), so a new kind or section needs no
// change here.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"outpost/checks"
)

// Limits on a check's schedule.
const (
	MinInterval = time.Second
	MaxInterval = 24 * time.Hour
)

// Defaults applied where the file is silent (documented in the README).
const (
	DefaultListen      = "127.0.0.1:8470"
	DefaultUIListen    = ":8443"
	DefaultInterval    = 60 * time.Second
	DefaultTimeout     = 10 * time.Second
	DefaultConcurrency = 64
	DefaultSeverity    = checks.SeverityCritical
	DefaultRaw         = 48 * time.Hour
	DefaultRollup5m    = 35 * 24 * time.Hour
	DefaultRollup1h    = 400 * 24 * time.Hour
)

// Config is a whole site configuration.
type Config struct {
	// Site is the human name of the site, shown everywhere.
	Site string `yaml:"site"`
	// Listen is the status endpoint's address (/healthz, /metrics).
	Listen string `yaml:"listen"`
	// UI is the local web interface.
	UI UI `yaml:"ui"`
	// Scheduler tunes how checks are run.
	Scheduler Scheduler `yaml:"scheduler"`
	// Store tunes retention.
	Store Store `yaml:"store"`
	// Defaults apply to checks that leave a field out.
	Defaults Defaults `yaml:"defaults"`
	// Devices are the site's devices, referred to by checks by name.
	Devices []checks.Device `yaml:"devices"`
	// Incidents and Maintenance shape what failures lead to.
	Incidents   Incidents     `yaml:"incidents"`
	Maintenance []Maintenance `yaml:"maintenance"`
	// Traps configures the SNMP trap receiver (off unless traps.listen
	// is set; read at start-up).
	Traps checks.Traps `yaml:"traps"`
	// Agents are the Outpost agents the box polls (agent_* checks).
	Agents []checks.Agent `yaml:"agents"`
	// Provisioning says where the box looks for provisioning sticks.
	Provisioning Provisioning `yaml:"provisioning"`
	// PhoneHome sends summaries to the MSP.
	PhoneHome PhoneHome `yaml:"phonehome"`
	// Checks are the site's checks.
	Checks []Check `yaml:"checks"`

	// sections are the feature-owned sections (notify:, healing:), each
	// decoded into its registered type; read them with the feature's
	// accessor (notify.ConfigOf, healing.ConfigOf). sectionNodes locate
	// their errors.
	sections     map[string]any
	sectionNodes map[string]*yaml.Node

	// File is where the config was read from ("" for the embedded default).
	File string `yaml:"-"`
	// trapsLine is where `traps:` is, and deviceLines and agentLines
	// where each entry of those lists is, for their errors.
	trapsLine               int
	deviceLines, agentLines []int
	// Raw is the file's bytes, recorded in the store when applied.
	Raw []byte `yaml:"-"`
}

// UI settings.
type UI struct {
	// Listen is the web UI's address (default ":8443", every interface:
	// technicians reach the box from the site network).
	Listen string `yaml:"listen"`
	// PlainHTTP serves without TLS. Only for loopback use such as
	// `make run`; the default is HTTPS with the box's own certificate.
	PlainHTTP bool `yaml:"plain_http"`
	// Disabled turns the UI off.
	Disabled bool `yaml:"disabled"`
}

// Scheduler settings.
type Scheduler struct {
	// Concurrency caps the checks running at once (default 64).
	Concurrency int `yaml:"concurrency"`
}

// Store settings: how long each resolution of history is kept.
type Store struct {
	RawRetention      time.Duration `yaml:"raw_retention"`
	Rollup5mRetention time.Duration `yaml:"rollup_5m_retention"`
	Rollup1hRetention time.Duration `yaml:"rollup_1h_retention"`
}

// Defaults for checks.
type Defaults struct {
	Interval time.Duration   `yaml:"interval"`
	Timeout  time.Duration   `yaml:"timeout"`
	Severity checks.Severity `yaml:"severity"`
}

// Check is one entry under `checks:`.
type Check struct {
	ID       string        `yaml:"id"`
	Kind     string        `yaml:"kind"`
	Target   string        `yaml:"target"`
	Interval time.Duration `yaml:"interval"`
	Timeout  time.Duration `yaml:"timeout"`
	Labels   checks.Labels `yaml:"labels"`
	// Options are the kind-specific settings, decoded by the kind.
	Options yaml.Node `yaml:"options"`
	// Confirm and Recover override incidents.confirm / incidents.recover.
	Confirm int `yaml:"confirm"`
	Recover int `yaml:"recover"`
	// DependsOn is the check this one is reached through (a switch's
	// ping): while it is down, this check's failures join its incident.
	DependsOn string `yaml:"depends_on"`
	// Remediations run in order when this check's incident opens.
	Remediations []yaml.Node `yaml:"remediations"`

	// Builtin marks a check Outpost adds itself (BuiltinClockCheck,
	// BuiltinStoreCheck): it is not in the file, so it cannot be edited
	// or deleted there.
	Builtin bool `yaml:"-"`

	line int
	path string
}

// BuiltinClockCheck is the id of the check Outpost adds to watch its own
// clock (kind clock: set, synchronised, stepped) when the config has no
// check of that kind. It warns: a wrong clock breaks certificates,
// bundle expiry and every timestamp, but nothing is down. A config that
// declares its own clock check (to ask an NTP server, say) replaces it.
const BuiltinClockCheck = "outpost-clock"

// BuiltinStoreCheck is the id of the check Outpost adds to watch its own
// store (kind store) when the config has no check of that kind: critical
// when commits fail (a full or failing disk) or stall, so a store that
// cannot write opens an incident and notifies like any outage. A config
// may declare its own (another interval, say) in its place.
const BuiltinStoreCheck = "outpost-store"

//go:embed default.yaml
var defaultYAML []byte

// Default returns the embedded default config: the box watching itself and
// its loopback services, nothing on the network.
func Default() (*Config, error) {
	return Parse("default.yaml", defaultYAML)
}

// DefaultYAML returns the embedded default config's text.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Load reads and validates a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a config. name is used in error messages.
// The returned error is an Errors listing every problem found.
func Parse(name string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{File: name, Line: yamlErrLine(err), Msg: cleanYAMLErr(err)}
	}
	c := &Config{File: name, Raw: bytes.Clone(data), sections: map[string]any{}, sectionNodes: map[string]*yaml.Node{}}
	d := &decoder{file: name, sections: map[string]checks.Section{}}
	for _, s := range checks.RegisteredSections() {
		d.sections[s.Key] = s
		c.sections[s.Key] = s.New()
	}
	d.sectionValues, d.sectionNodes = c.sections, c.sectionNodes
	if root.Kind == 0 {
		return nil, Errors{{File: name, Msg: "empty config (expected at least `site:`)"}}
	}
	d.decode(&root, reflect.ValueOf(c).Elem(), "")
	// Remember where each check is, for errors found after decoding.
	if seq := findKey(&root, "checks"); seq != nil && seq.Kind == yaml.SequenceNode {
		for i, n := range seq.Content {
			if i < len(c.Checks) {
				c.Checks[i].line = n.Line
				c.Checks[i].path = fmt.Sprintf("checks[%d]", i)
			}
		}
	}
	c.deviceLines = entryLines(&root, "devices")
	c.agentLines = entryLines(&root, "agents")
	c.locateIncidentSections(&root)
	if n := findKey(&root, "traps"); n != nil {
		c.trapsLine = n.Line
	}
	if len(d.errs) == 0 {
		c.applyDefaults()
		c.applyIncidentDefaults()
		c.validateDevices(d)
		c.validateAgents(d)
		c.validateProvisioning(d, &root)
		c.validatePhoneHome(d, &root)
		c.validateIncidents(d)
		c.validateStore(d)
		c.checkSections(d)
		for _, err := range c.Traps.Validate() {
			d.errs = append(d.errs, &Error{File: c.File, Line: c.trapsLine, Msg: err.Error()})
		}
		c.validate(d)
	}
	if len(d.errs) > 0 {
		return nil, d.errs.sorted()
	}
	return c, nil
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.UI.Listen == "" {
		c.UI.Listen = DefaultUIListen
	}
	if c.Scheduler.Concurrency == 0 {
		c.Scheduler.Concurrency = DefaultConcurrency
	}
	if c.Store.RawRetention == 0 {
		c.Store.RawRetention = DefaultRaw
	}
	if c.Store.Rollup5mRetention == 0 {
		c.Store.Rollup5mRetention = DefaultRollup5m
	}
	if c.Store.Rollup1hRetention == 0 {
		c.Store.Rollup1hRetention = DefaultRollup1h
	}
	if c.Defaults.Interval == 0 {
		c.Defaults.Interval = DefaultInterval
	}
	if c.Defaults.Timeout == 0 {
		c.Defaults.Timeout = DefaultTimeout
	}
	if c.Defaults.Severity == "" {
		c.Defaults.Severity = DefaultSeverity
	}
	c.addBuiltinChecks()
	for i := range c.Checks {
		ch := &c.Checks[i]
		if ch.Interval == 0 {
			ch.Interval = c.Defaults.Interval
		}
		if ch.Timeout == 0 {
			ch.Timeout = min(c.Defaults.Timeout, ch.Interval)
		}
		if ch.Labels.Severity == "" {
			ch.Labels.Severity = c.Defaults.Severity
			if k, ok := checks.Lookup(ch.Kind); ok && k.Severity != "" {
				ch.Labels.Severity = k.Severity
			}
		}
		if ch.Labels.Device == "" {
			// A disk check's target is a mount point, a process check's a
			// process name: the device they look at is the box.
			if k, ok := checks.Lookup(ch.Kind); ok && k.OnBox {
				ch.Labels.Device = checks.BoxDevice
			} else {
				ch.Labels.Device = ch.Target
			}
		}
	}
}

func (c *Config) addBuiltinChecks() {
	c.addBuiltin(Check{ID: BuiltinClockCheck, Kind: "clock", Interval: time.Minute, Labels: checks.Labels{Severity: checks.SeverityWarning}})
	c.addBuiltin(Check{ID: BuiltinStoreCheck, Kind: "store", Interval: 30 * time.Second, Labels: checks.Labels{Severity: checks.SeverityCritical}})
	c.addInventoryBuiltins()
}

// addBuiltin adds b unless the config declares a check of its kind or id.
func (c *Config) addBuiltin(b Check) {
	for _, ch := range c.Checks {
		if ch.Kind == b.Kind || ch.ID == b.ID {
			return
		}
	}
	b.Builtin, b.path = true, "checks (built in)"
	c.Checks = append(c.Checks, b)
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)

func (c *Config) validate(d *decoder) {
	if strings.TrimSpace(c.Site) == "" {
		d.errs = append(d.errs, &Error{File: c.File, Line: 1, Field: "site", Msg: "is required (the site's name, e.g. \"Acme Dental, 2nd floor closet\")"})
	}
	if !c.UI.Disabled {
		if err := CheckUIListen(c.UI.Listen, c.UI.PlainHTTP); err != nil {
			d.errs = append(d.errs, &Error{File: c.File, Field: "ui.plain_http", Msg: err.Error()})
		}
	}
	if c.Scheduler.Concurrency < 1 || c.Scheduler.Concurrency > 4096 {
		d.errs = append(d.errs, &Error{File: c.File, Field: "scheduler.concurrency", Msg: fmt.Sprintf("%d is out of range (1 to 4096)", c.Scheduler.Concurrency)})
	}
	if err := c.Defaults.Severity.Validate(); err != nil {
		d.errs = append(d.errs, &Error{File: c.File, Field: "defaults.severity", Msg: err.Error()})
	}
	seen := map[string]int{}
	for i := range c.Checks {
		ch := &c.Checks[i]
		fail := func(field, format string, args ...any) {
			d.errs = append(d.errs, &Error{File: c.File, Line: ch.line, Field: ch.path + "." + field, Msg: fmt.Sprintf(format, args...)})
		}
		switch {
		case ch.ID == "":
			fail("id", "is required")
		case !idRE.MatchString(ch.ID):
			fail("id", "%q is not a valid id (letters, digits, '_', '-', '.', ':'; at most 64)", ch.ID)
		default:
			if prev, dup := seen[ch.ID]; dup {
				fail("id", "%q is used twice (first at line %d)", ch.ID, prev)
			}
			seen[ch.ID] = ch.line
		}
		if ch.Kind == "" {
			fail("kind", "is required (one of %s)", strings.Join(checks.KindNames(), ", "))
			continue
		}
		if ch.Interval < MinInterval || ch.Interval > MaxInterval {
			fail("interval", "%s is out of range (1s to 24h)", ch.Interval)
		}
		if ch.Timeout <= 0 {
			fail("timeout", "must be positive")
		} else if ch.Timeout > ch.Interval {
			fail("timeout", "%s is longer than the interval %s", ch.Timeout, ch.Interval)
		}
		if err := ch.Labels.Severity.Validate(); err != nil {
			fail("labels.severity", "%v", err)
		}
		if _, err := checks.Build(c.spec(ch), checks.Deps{}); err != nil {
			d.errs = append(d.errs, c.checkErr(ch, err)...)
		}
	}
}

// checkErr locates an error from a kind's constructor.
func (c *Config) checkErr(ch *Check, err error) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}
	}
	var fe *checks.FieldError
	if errors.As(err, &fe) {
		line := ch.line
		if strings.HasPrefix(fe.Field, "options") && ch.Options.Line > 0 {
			line = ch.Options.Line
		}
		return Errors{{File: c.File, Line: line, Field: ch.path + "." + fe.Field, Msg: fe.Msg}}
	}
	return Errors{{File: c.File, Line: ch.line, Field: ch.path, Msg: err.Error()}}
}

func (c *Config) spec(ch *Check) checks.Spec {
	var opts checks.Options = checks.NoOptions{}
	if ch.Options.Kind != 0 {
		n := ch.Options
		opts = nodeOptions{file: c.File, path: ch.path + ".options", node: &n}
	}
	var rems []checks.Options
	for i := range ch.Remediations {
		rems = append(rems, nodeOptions{file: c.File, path: fmt.Sprintf("%s.remediations[%d]", ch.path, i), node: &ch.Remediations[i]})
	}
	return checks.Spec{
		ID: ch.ID, Kind: ch.Kind, Target: ch.Target,
		Interval: ch.Interval, Timeout: ch.Timeout,
		Labels: ch.Labels, Options: opts, Env: c,
		Remediations: rems,
	}
}

// Specs returns the checks as specs, in file order.
func (c *Config) Specs() []checks.Spec {
	out := make([]checks.Spec, len(c.Checks))
	for i := range c.Checks {
		out[i] = c.spec(&c.Checks[i])
	}
	return out
}

// Section returns the feature-owned section key as decoded and checked
// (nil when no such section is registered); it implements checks.Sections.
func (c *Config) Section(key string) any { return c.sections[key] }

var _ checks.Site = (*Config)(nil)

// checkSections has each feature check its section (defaults, then
// validation against the rest of the config) and locates its errors.
func (c *Config) checkSections(d *decoder) {
	for _, s := range checks.RegisteredSections() {
		if err := s.Check(c.sections[s.Key], c); err != nil {
			d.errs = append(d.errs, c.locateIn(s.Key, c.sectionNodes[s.Key], err)...)
		}
	}
}

// locateIn places the errors of the section key, whose node is n (nil
// when the file has none): a *checks.FieldError at the line of the field
// it names, errors located already as they are.
func (c *Config) locateIn(key string, n *yaml.Node, err error) Errors {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out Errors
		for _, e := range j.Unwrap() {
			out = append(out, c.locateIn(key, n, e)...)
		}
		return out
	}
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}
	}
	var fe *checks.FieldError
	if errors.As(err, &fe) {
		return Errors{{File: c.File, Line: lineOf(n, fieldKeys(fe.Field)...), Field: key + "." + fe.Field, Msg: fe.Msg}}
	}
	return Errors{{File: c.File, Line: lineOf(n), Field: key, Msg: err.Error()}}
}

// fieldKeys splits a field path ("policies[0].steps[1].after") into the
// keys lineOf follows ("policies", "0", "steps", "1", "after").
func fieldKeys(field string) []string {
	var keys []string
	for _, part := range strings.Split(field, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			if i < 0 {
				keys = append(keys, part)
				break
			}
			if i > 0 {
				keys = append(keys, part[:i])
			}
			j := strings.IndexByte(part[i:], ']')
			if j < 0 {
				keys = append(keys, part[i:])
				break
			}
			keys = append(keys, part[i+1:i+j])
			part = part[i+j+1:]
		}
	}
	return keys
}

// entryLines is the line of each entry of the list under a top-level key.
func entryLines(root *yaml.Node, key string) []int {
	seq := findKey(root, key)
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	lines := make([]int, len(seq.Content))
	for i, n := range seq.Content {
		lines[i] = n.Line
	}
	return lines
}

func findKey(root *yaml.Node, key string) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func yamlErrLine(err error) int {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

func cleanYAMLErr(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = yamlLineRE.ReplaceAllString(s, "")
	s = strings.TrimPrefix(strings.TrimSpace(s), ": ")
	return "not valid YAML: " + s
}

// CheckUIListen applies the plain-HTTP rule to a web UI address: plain
// HTTP only on a loopback address. The daemon applies it to an address
// given on the command line (--ui-listen) as well as to ui.listen.
func CheckUIListen(addr string, plainHTTP bool) error {
	if plainHTTP && !isLoopback(addr) {
		return fmt.Errorf("plain HTTP is only allowed on a loopback address, not %q (passwords would cross the network in clear)", addr)
	}
	return nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
