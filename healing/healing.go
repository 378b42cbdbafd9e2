// Package healing holds the remediations Outpost can run when a check
// fails: one file per action kind, registered like check kinds, the
// `healing:` config section it owns (config.go), and the Runner that
// enforces the safeguards (attempts per window, one action at a time per
// target) and audits every run.
package healing

import (
	"context"
	"sync"
	"time"

	"outpost/checks"
	"outpost/checks/clock"
	"outpost/checks/registry"
)

// Action is one configured remediation.
type Action interface {
	// Run performs the action. The error says why it could not be done;
	// output is what the action printed or answered (kept for the audit
	// and the incident timeline).
	Run(ctx context.Context) (output string, err error)
	// Target names what the action touches (a unit, a URL, a MAC), so
	// two actions on the same target never run at once.
	Target() string
	// Describe is one line for timelines: "restart unit nginx.service".
	Describe() string
}

// Env is what action constructors may consult: the site's devices and
// agents, and the healing section's allow-list.
type Env interface {
	checks.Env
	// AllowedCommand reports whether a command line (absolute program
	// path and arguments) may be run by the `command` action, with a hint
	// when the program is allowed only with other arguments.
	AllowedCommand(argv []string) (ok bool, hint string)
}

// Kind describes one action kind.
type Kind struct {
	Name    string
	Summary string
	// New decodes the remediation's fields (the `action:` key included)
	// and validates them; the Action keeps what it needs of deps for when
	// it runs. Errors are configuration errors.
	New func(opts checks.Options, env Env, deps checks.Deps) (Action, error)
}

// kinds is the registry of action kinds.
var kinds = registry.New[Kind]("action")

// Register adds an action kind; duplicates panic.
func Register(k Kind) { kinds.Add(k.Name, k) }

// Names lists the registered action kinds.
func Names() []string { return kinds.Names() }

// Kinds returns every registered action kind sorted by name.
func Kinds() []Kind { return kinds.All() }

// Build makes an action of the named kind, handing it deps (zero Deps to
// only validate it).
func Build(name string, opts checks.Options, env Env, deps checks.Deps) (Action, error) {
	k, ok := kinds.Get(name)
	if !ok {
		return nil, &checks.FieldError{Field: "action", Msg: kinds.Unknown(name)}
	}
	return k.New(opts, env, deps.WithDefaults())
}

// AuditEntry records one action run, automatic or by a technician.
type AuditEntry struct {
	Time     time.Time     `json:"time"`
	Check    string        `json:"check"`
	Incident uint64        `json:"incident,omitempty"`
	Who      string        `json:"who"` // "auto" or the technician's name
	Action   string        `json:"action"`
	Target   string        `json:"target"`
	Duration time.Duration `json:"duration_ns"`
	OK       bool          `json:"ok"`
	Output   string        `json:"output"`
	Error    string        `json:"error,omitempty"`
}

// Auditor keeps the audit trail (bbolt in the daemon).
type Auditor interface {
	Audit(AuditEntry) error
}

// Limits are the safeguards.
type Limits struct {
	// MaxAttempts automatic runs per check within Window (default 3/1h).
	MaxAttempts int
	Window      time.Duration
}

// Runner runs actions with the safeguards and the audit.
type Runner struct {
	clock   clock.Clock
	audit   Auditor
	mu      sync.Mutex
	targets map[string]*sync.Mutex
	// history is check -> automatic attempt times on the monotonic clock
	// (Clock.Mono): a step of the wall clock neither resets the attempts
	// limit (forward) nor blocks healing until the clock catches up (back).
	history map[string][]time.Duration
	agents  checks.AgentCommander
}

// SetAgents gives agent actions (agent_restart) their way to the
// agents; until it is called they fail with checks.ErrNoAgent.
func (r *Runner) SetAgents(a checks.AgentCommander) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.agents = a
}

// NewRunner returns a Runner.
func NewRunner(c clock.Clock, a Auditor) *Runner {
	if c == nil {
		c = clock.Real{}
	}
	return &Runner{clock: c, audit: a, targets: map[string]*sync.Mutex{}, history: map[string][]time.Duration{}}
}

// Allow records an automatic attempt for check if the limits allow one,
// and says how many were made in the window.
func (r *Runner) Allow(check string, l Limits) (bool, int) {
	if l.MaxAttempts <= 0 {
		l.MaxAttempts = 3
	}
	if l.Window <= 0 {
		l.Window = time.Hour
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Mono()
	var kept []time.Duration
	for _, t := range r.history[check] {
		if now-t < l.Window {
			kept = append(kept, t)
		}
	}
	if len(kept) >= l.MaxAttempts {
		r.history[check] = kept
		return false, len(kept)
	}
	r.history[check] = append(kept, now)
	return true, len(kept) + 1
}

// Restore counts an audited automatic run towards its check's attempts
// limit, so that a daemon restart does not give a crash-looping service
// a fresh set of attempts. Manual runs (Who other than "auto") do not
// count, as with Allow.
func (r *Runner) Restore(e AuditEntry) {
	if e.Who != "auto" || e.Check == "" {
		return
	}
	// The audit keeps wall times: its age is judged once, now. An entry
	// from the future (the clock stepped back since) counts as just made,
	// so the limit errs on the side of fewer attempts, for one window.
	age := max(r.clock.Now().Sub(e.Time), 0)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.history[e.Check] = append(r.history[e.Check], r.clock.Mono()-age)
}

// Run runs one action under its target's lock and audits it.
func (r *Runner) Run(ctx context.Context, a Action, check string, incident uint64, who string, timeout time.Duration) AuditEntry {
	r.mu.Lock()
	lock := r.targets[a.Target()]
	if lock == nil {
		lock = &sync.Mutex{}
		r.targets[a.Target()] = lock
	}
	agents := r.agents
	r.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := r.clock.Now()
	wall := time.Now()
	var out string
	var err error
	if aa, ok := a.(AgentAction); ok {
		out, err = aa.RunThrough(ctx, agents)
	} else {
		out, err = a.Run(ctx)
	}
	e := AuditEntry{Time: start, Check: check, Incident: incident, Who: who, Action: a.Describe(), Target: a.Target(), Duration: time.Since(wall), OK: err == nil, Output: truncate(out, 4096)}
	if err != nil {
		e.Error = err.Error()
	}
	if r.audit != nil {
		r.audit.Audit(e)
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n[... truncated]"
}
