//go:build windows

package agent

import (
	"fmt"

	"golang.org/x/sys/windows"

	"outpost/appliance/private"
)

// secureDir gives the data directory and every file in it an owner
// (Administrators) and an access list (SYSTEM and Administrators only),
// so only they can change what the agent runs.
func secureDir(dir string) error { return private.Restrict(dir) }

// checkPrivate refuses a file not owned by SYSTEM, Administrators or the
// agent's own account: secureDir gave every file Administrators as
// owner, so another owner means someone else made it.
func checkPrivate(path string) error {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the owner of %s: %w", path, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return err
	}
	if owner.IsWellKnown(windows.WinLocalSystemSid) || owner.IsWellKnown(windows.WinBuiltinAdministratorsSid) {
		return nil
	}
	if u, err := windows.GetCurrentProcessToken().GetTokenUser(); err == nil && windows.EqualSid(owner, u.User.Sid) {
		return nil
	}
	return fmt.Errorf("%s is owned by %s, not SYSTEM or Administrators: refusing it", path, owner.String())
}

// checkScript leaves Windows scripts to the administrator: keep them
// where only Administrators can write (docs/agent.md).
func checkScript(string) error { return nil }
