package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"outpost/checks/agent/wire"
)

// AllowFile is the agent's own allow-list, in its data directory: the
// services the box may restart, start or stop, the scripts it may run
// and the logs it may read. Only administrators can write it (the data
// directory is root's, mode 0700, on Linux; SYSTEM's and
// Administrators' only on Windows, and the agent refuses a file anyone
// else could have written). The box can only narrow it.
const AllowFile = "allow.yaml"

// maxAllowEntries bounds each list, in the file and from the box.
const maxAllowEntries = 256

var (
	allowServiceRE = regexp.MustCompile(`^[A-Za-z0-9_.@:$ -]{1,256}$`)
	allowScriptRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	allowLogNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 _.-]{0,127}$`)
)

// allowFileDoc is what the agent writes above the lists.
const allowFileDoc = `# Outpost agent allow-list: what the site's box may ask of this server.
# The box can only narrow it (its config names a subset); it can never add
# to it. Only administrators can change this file; the agent reads it again
# before every command and log read, and logs every change it sees.
#   services: Windows services or systemd units the box may restart, start, stop
#   scripts:  programs the box may run by name, without a shell, with exactly
#             these arguments; command is an absolute path
#   logs:     Windows event logs (Application, System), "journal", or absolute
#             paths of log files the box's agent_eventlog checks may read
`

// allowDoc is the file's YAML shape.
type allowDoc struct {
	Services []string      `yaml:"services"`
	Scripts  []allowScript `yaml:"scripts"`
	Logs     []string      `yaml:"logs"`
}

type allowScript struct {
	Name    string   `yaml:"name"`
	Command string   `yaml:"command"`
	Args    []string `yaml:"args"`
}

// DefaultLogs are the logs `agent install` allows when told none: the
// system's general logs, never a file.
func DefaultLogs() []string {
	if runtime.GOOS == "windows" {
		return []string{"Application", "System"}
	}
	return []string{"journal"}
}

// ParseAllowList reads an allow-list file's content strictly (unknown
// fields are errors) and validates it.
func ParseAllowList(data []byte) (wire.Policy, error) {
	var d allowDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return wire.Policy{}, err
	}
	p := wire.Policy{Services: d.Services, Logs: d.Logs}
	for _, s := range d.Scripts {
		p.Scripts = append(p.Scripts, wire.Script{Name: s.Name, Command: s.Command, Args: s.Args})
	}
	return p, ValidateAllowList(p)
}

// ValidateAllowList checks an allow-list: safe service and script names,
// each script's command an absolute local path, logs that are a log
// name, "journal" or an absolute path.
func ValidateAllowList(p wire.Policy) error {
	if len(p.Services) > maxAllowEntries || len(p.Scripts) > maxAllowEntries || len(p.Logs) > maxAllowEntries {
		return fmt.Errorf("more than %d entries in a list", maxAllowEntries)
	}
	for _, s := range p.Services {
		if !allowServiceRE.MatchString(s) {
			return fmt.Errorf("services: %q is not a service name", s)
		}
	}
	seen := map[string]bool{}
	for _, s := range p.Scripts {
		switch {
		case !allowScriptRE.MatchString(s.Name):
			return fmt.Errorf("scripts: %q is not a script name (letters, digits, . _ -)", s.Name)
		case seen[s.Name]:
			return fmt.Errorf("scripts: %q appears twice", s.Name)
		case !localAbs(s.Command):
			return fmt.Errorf("scripts: %s: command %q must be an absolute path on this server", s.Name, s.Command)
		}
		seen[s.Name] = true
		for _, arg := range s.Args {
			if strings.ContainsRune(arg, 0) {
				return fmt.Errorf("scripts: %s: an argument holds a NUL byte", s.Name)
			}
		}
	}
	for _, l := range p.Logs {
		if l != "journal" && !localAbs(l) && !allowLogNameRE.MatchString(l) {
			return fmt.Errorf("logs: %q is neither a log name, \"journal\", nor an absolute path", l)
		}
	}
	return nil
}

// localAbs is an absolute path on this machine's own disks: on Windows
// a drive path (a share, \\server\..., could be changed elsewhere).
func localAbs(p string) bool {
	if p == "" || strings.ContainsRune(p, 0) || !filepath.IsAbs(p) {
		return false
	}
	return runtime.GOOS != "windows" || !strings.HasPrefix(p, `\\`) && !strings.HasPrefix(p, `//`)
}

// WriteAllowList validates p and writes it to path (mode 0600, replacing
// the file whole).
func WriteAllowList(path string, p wire.Policy) error {
	if err := ValidateAllowList(p); err != nil {
		return err
	}
	d := allowDoc{Services: p.Services, Logs: p.Logs}
	for _, s := range p.Scripts {
		d.Scripts = append(d.Scripts, allowScript{Name: s.Name, Command: s.Command, Args: s.Args})
	}
	if d.Services == nil {
		d.Services = []string{}
	}
	if d.Scripts == nil {
		d.Scripts = []allowScript{}
	}
	if d.Logs == nil {
		d.Logs = []string{}
	}
	data, err := yaml.Marshal(d)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append([]byte(allowFileDoc), data...))
}

// sameName compares names the way this OS does: Windows service names,
// log names and paths ignore case.
func sameName(a, b string) bool {
	if runtime.GOOS == "windows" {
		return strings.EqualFold(a, b)
	}
	return a == b
}

// allowsLog reports whether the allow-list lets the box read log.
func allowsLog(p wire.Policy, log string) bool {
	clean := func(s string) string {
		if localAbs(s) {
			return filepath.Clean(s)
		}
		return s
	}
	for _, l := range p.Logs {
		if sameName(clean(l), clean(log)) {
			return true
		}
	}
	return false
}

// narrow is what the agent does for the box: the entries of the box's
// allow-list that the agent's own also holds, identically (a script the
// box describes with another command or arguments is refused, not
// swapped for the local one). refused says, per entry, what the box
// asked for and the agent will not do.
func narrow(local, box wire.Policy) (eff wire.Policy, refused []string) {
	for _, s := range box.Services {
		if local.AllowsService(s) {
			eff.Services = append(eff.Services, s)
		} else {
			refused = append(refused, fmt.Sprintf("service %q (not on this server's allow-list)", s))
		}
	}
	for _, s := range box.Scripts {
		l, ok := local.Script(s.Name)
		switch {
		case !ok:
			refused = append(refused, fmt.Sprintf("script %q = %s (not on this server's allow-list)", s.Name, CommandLine(s)))
		case !sameName(l.Command, s.Command) || !equalArgs(l.Args, s.Args):
			refused = append(refused, fmt.Sprintf("script %q = %s (this server allows %s)", s.Name, CommandLine(s), CommandLine(l)))
		default:
			eff.Scripts = append(eff.Scripts, l)
		}
	}
	eff.Logs = local.Logs
	return eff, refused
}

func equalArgs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// CommandLine shows a script as it runs: the command and each argument,
// quoted when it holds a space or a quote, so the log shows exactly what
// ran.
func CommandLine(s wire.Script) string {
	parts := make([]string, 0, 1+len(s.Args))
	for _, p := range append([]string{s.Command}, s.Args...) {
		if p == "" || strings.ContainsAny(p, " \t\n\"'") {
			p = strconv.Quote(p)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

// describe lists an allow-list for the log, every script with its full
// command line.
func describe(p wire.Policy) string {
	var b strings.Builder
	fmt.Fprintf(&b, "services %q; scripts [", p.Services)
	for i, s := range p.Scripts {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s = %s", s.Name, CommandLine(s))
	}
	fmt.Fprintf(&b, "]; logs %q", p.Logs)
	return b.String()
}

// readAllowList reads and checks the file at path: missing is an empty
// allow-list (nothing allowed); a file others could write is an error.
func readAllowList(path string) (wire.Policy, []byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return wire.Policy{}, nil, nil
	}
	if err != nil {
		return wire.Policy{}, nil, err
	}
	if err := checkPrivate(path); err != nil {
		return wire.Policy{}, data, err
	}
	p, err := ParseAllowList(data)
	return p, data, err
}
