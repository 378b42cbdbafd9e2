package healing

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

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
	if env == nil || !env.AllowedCommand(o.Command[0]) {
		return nil, &checks.FieldError{Field: "command", Msg: fmt.Sprintf("%q is not in healing.allow_commands", o.Command[0])}
	}
	return &Command{argv: o.Command}, nil
}

// Run executes the program, capturing stdout and stderr.
func (c *Command) Run(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.String(), fmt.Errorf("timed out: %w", ctx.Err())
	}
	if err != nil {
		return out.String(), fmt.Errorf("%s: %w", c.argv[0], err)
	}
	return out.String(), nil
}

// Target is the program.
func (c *Command) Target() string { return "command:" + c.argv[0] }

// Describe prints the command line.
func (c *Command) Describe() string { return "run " + strings.Join(c.argv, " ") }
