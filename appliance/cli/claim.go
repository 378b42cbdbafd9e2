package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"outpost/appliance"
)

func init() {
	Register(Command{Name: "claim-code", Summary: "print the code that claims an unclaimed box (its first administrator, in the web UI); at the box, as root", Run: claimCodeCmd})
}

// claimCodeCmd shows the technician at the box what the web UI's
// first-boot page asks for. It reads the daemon's file, so it works while
// the daemon runs and needs the rights the file has (root).
func claimCodeCmd(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags(env, "claim-code", "claim-code [--data DIR]")
	data := DataDirFlag(fs)
	if err := Parse(fs, args, false); err != nil {
		return err
	}
	b, err := os.ReadFile(appliance.ClaimCodeFile(*data))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no claim code in %s: the box is claimed already (an administrator exists), or the daemon has not started on this data dir yet (or runs with its web UI disabled)", *data)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w (run it as root, the daemon's user)", err)
	case err != nil:
		return err
	}
	fmt.Fprintf(env.Stdout, "claim code: %s\n\nEnter it on the web UI's first-boot page (/setup) with the administrator's name and password.\nIt is removed once the administrator exists.\n", strings.TrimSpace(string(b)))
	return nil
}
