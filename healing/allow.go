package healing

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// AllowedCommand is one healing.allow_commands entry: a program and the
// exact arguments the `command` action may run it with. Written as a
// string it is the program alone, run with no arguments; written as a
// list it is the whole command line, where an element that is exactly
// "*" stands for any one argument. Allowing a program never allows it
// with other arguments: `/usr/bin/systemctl restart cups` does not let a
// remediation run `systemctl stop sshd`, and `/bin/sh` alone does not
// let one run `sh -c …`.
type AllowedCommand []string

// UnmarshalYAML reads a string or a list of strings.
func (a *AllowedCommand) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*a = AllowedCommand{n.Value}
		return nil
	case yaml.SequenceNode:
		l := make([]string, len(n.Content))
		for i, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("element %d of an allow_commands entry must be a string", i)
			}
			l[i] = c.Value
		}
		*a = l
		return nil
	}
	return fmt.Errorf("an allow_commands entry is a program path or a list [program, arg, ...], not a mapping")
}

// MarshalYAML writes a program without arguments as a string.
func (a AllowedCommand) MarshalYAML() (any, error) {
	if len(a) == 1 {
		return a[0], nil
	}
	return []string(a), nil
}

// String is the entry as a technician would type it.
func (a AllowedCommand) String() string { return strings.Join(a, " ") }

// check reports what is wrong with the entry, if anything.
func (a AllowedCommand) check() string {
	if len(a) == 0 || a[0] == "" {
		return "is empty: give the program's absolute path"
	}
	if !filepath.IsAbs(a[0]) || !strings.HasPrefix(a[0], "/") {
		return fmt.Sprintf("%q must be an absolute path", a[0])
	}
	if a[0] != filepath.Clean(a[0]) {
		return fmt.Sprintf("%q must be a clean path (no .., // or trailing /)", a[0])
	}
	return ""
}

// Allows reports whether argv is this entry's command line.
func (a AllowedCommand) Allows(argv []string) bool {
	if len(a) != len(argv) || len(a) == 0 || a[0] != argv[0] {
		return false
	}
	for i := 1; i < len(a); i++ {
		if a[i] != "*" && a[i] != argv[i] {
			return false
		}
	}
	return true
}

// allowed reports whether the `command` action may run argv; when it may
// not and the program is listed with other arguments, hint says how the
// allow-list has it.
func allowed(list []AllowedCommand, argv []string) (ok bool, hint string) {
	var same []string
	for _, a := range list {
		if a.Allows(argv) {
			return true, ""
		}
		if len(a) > 0 && len(argv) > 0 && a[0] == argv[0] {
			same = append(same, "["+strings.Join(a, ", ")+"]")
		}
	}
	if len(same) > 0 {
		slices.Sort(same)
		return false, fmt.Sprintf("healing.allow_commands allows %s only as %s", argv[0], strings.Join(same, " or "))
	}
	return false, ""
}
