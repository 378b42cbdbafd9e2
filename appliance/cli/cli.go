// Package cli is Outpost's command line: a table of subcommands, each in
// its own file registering itself, so a feature adds its command without
// touching the others.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"outpost/checks/registry"
)

// Command is one `outpost <name>` subcommand.
type Command struct {
	// Name is the first argument; "snmp probe" style groups use a single
	// Name and dispatch on their own first argument.
	Name string
	// Summary is one line for `outpost help`.
	Summary string
	// Run executes the command. Returning a *UsageError prints usage and
	// exits 2; any other error prints "outpost <name>: <err>" and exits 1.
	Run func(ctx context.Context, env *Env, args []string) error
}

// Env is what a command may touch, so tests can run commands in-process.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	Stdin  io.Reader
}

// UsageError is a wrong invocation; it is reported with exit code 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef builds a UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// commands is the table of subcommands.
var commands = registry.New[Command]("command")

// Register adds a command; duplicate names panic (a programming error).
func Register(c Command) { commands.Add(c.Name, c) }

// Main runs the command line and returns the process exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, &Env{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin}, args)
}

// Run dispatches args (without the program name) to a command.
func Run(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands.Get(args[0])
	if !ok {
		fmt.Fprintf(env.Stderr, "outpost: unknown command %q (run `outpost help`)\n", args[0])
		return 2
	}
	err := c.Run(ctx, env, args[1:])
	if err == nil {
		return 0
	}
	var ue *UsageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue) && isHelp(args[len(args)-1]):
		// `outpost bundle -h`, `outpost incident ack -h`: a group command
		// answers help with its usage, as every flag set does.
		msg := ue.Msg
		if rest, ok := strings.CutPrefix(msg, "usage: "); ok {
			msg = "Usage: " + rest
		}
		fmt.Fprintf(env.Stdout, "outpost %s: %s\n%s\n", c.Name, c.Summary, msg)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "outpost %s: %s\n", c.Name, ue.Msg)
		return 2
	}
	fmt.Fprintf(env.Stderr, "outpost %s: %v\n", c.Name, err)
	return 1
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Outpost: the MSP's on-site monitoring box.")
	fmt.Fprintln(w, "\nUsage: outpost <command> [flags]\n\nCommands:")
	for _, c := range commands.All() {
		fmt.Fprintf(w, "  %-13s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintln(w, "\nRun `outpost <command> -h` for a command's flags.")
}

// NewFlags returns a FlagSet that reports errors instead of exiting and
// prints its usage to env.Stderr.
func NewFlags(env *Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: outpost %s\n", synopsis)
		if strings.Contains(synopsis, "[flags]") || hasFlags(fs) {
			fmt.Fprintln(env.Stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// Parse parses flags, turning flag errors into usage errors and rejecting
// stray positional arguments unless allowArgs.
func Parse(fs *flag.FlagSet, args []string, allowArgs bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{Msg: err.Error()}
	}
	if !allowArgs && fs.NArg() > 0 {
		return Usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
