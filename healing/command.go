package healing

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "command", Summary: "run an allow-listed local program (argument list, no shell)", New: newCommand})
}

// Command runs a program on the box. The program must be an absolute
// path listed in healing.allow_commands; arguments are passed as a list
// and no shell ever sees them.
type Command struct {
	argv []string
}

func newCommand(opts checks.Options, env Env, _ checks.Deps) (Action, error) {
	var o struct {
		Action  string   `yaml:"action"`
		Command []string `yaml:"command"`
	}
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	if len(o.Command) == 0 {
		return nil, &checks.FieldError{Field: "command", Msg: "is required: the program and its arguments as a list"}
	}
	if !filepath.IsAbs(o.Command[0]) {
		return nil, &checks.FieldError{Field: "command", Msg: fmt.Sprintf("%q must be an absolute path", o.Command[0])}
	}
	if env == nil {
		return nil, &checks.FieldError{Field: "command", Msg: fmt.Sprintf("%q is not in healing.allow_commands", o.Command[0])}
	}
	if ok, hint := env.AllowedCommand(o.Command); !ok {
		if hint != "" {
			return nil, &checks.FieldError{Field: "command", Msg: fmt.Sprintf("%s is not allowed: %s", quoteArgv(o.Command), hint)}
		}
		return nil, &checks.FieldError{Field: "command", Msg: fmt.Sprintf("%q is not in healing.allow_commands", o.Command[0])}
	}
	return &Command{argv: o.Command}, nil
}

// quoteArgv writes a command line as a YAML-style list.
func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = fmt.Sprintf("%q", a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// maxOutput is how much of a command's output is kept for the audit
// and the incident timeline; the rest is read and discarded.
const maxOutput = 64 << 10

// Run executes the program, capturing (the first maxOutput bytes of)
// stdout and stderr. It returns when the program exits: a background
// process it started (`service & echo started`) may keep the output open,
// and is neither waited for nor cut off (its output is drained, so it
// never blocks or dies of a closed pipe). When ctx ends first, the
// program's whole process group is killed.
func (c *Command) Run(ctx context.Context) (string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("%s: %w", c.argv[0], err)
	}
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	// An *os.File is handed to the child as it is: Wait does not wait for
	// whoever else holds it, unlike the copying pipe exec makes for a
	// Writer.
	cmd.Stdout, cmd.Stderr = w, w
	ownGroup(cmd)
	out := &drained{done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return "", fmt.Errorf("%s: %w", c.argv[0], err)
	}
	w.Close()
	go out.drain(r)
	err = cmd.Wait()
	// Output written just before exit is in the pipe: read it unless a
	// background process keeps the pipe open, then take what came.
	select {
	case <-out.done:
	case <-time.After(100 * time.Millisecond):
	}
	text := out.String()
	if ctx.Err() != nil {
		return text, fmt.Errorf("timed out: %w", ctx.Err())
	}
	if err != nil {
		return text, fmt.Errorf("%s: %w", c.argv[0], err)
	}
	return text, nil
}

// drained keeps the first maxOutput bytes read from a pipe and discards
// the rest until the pipe closes.
type drained struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func (d *drained) drain(r *os.File) {
	defer close(d.done)
	defer r.Close()
	b := make([]byte, 4096)
	for {
		n, err := r.Read(b)
		if n > 0 {
			d.mu.Lock()
			if room := maxOutput - d.buf.Len(); room > 0 {
				d.buf.Write(b[:min(n, room)])
			}
			d.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (d *drained) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buf.String()
}

// Target is the program.
func (c *Command) Target() string { return "command:" + c.argv[0] }

// Describe prints the command line.
func (c *Command) Describe() string { return "run " + strings.Join(c.argv, " ") }
