//go:build windows

package agent

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// privateSDDL: owned by Administrators; SYSTEM and Administrators only,
// inherited by everything inside, nothing inherited from the parent
// (%ProgramData% lets every user create files in new folders).
const privateSDDL = "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// secureDir gives the data directory and every file in it that owner and
// access list, so only SYSTEM and Administrators can change what the
// agent runs.
func secureDir(dir string) error {
	sd, err := windows.SecurityDescriptorFromString(privateSDDL)
	if err != nil {
		return err
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	set := func(path string) error {
		err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
			windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, owner, nil, dacl, nil)
		if err != nil {
			return fmt.Errorf("restricting %s to SYSTEM and Administrators (run as Administrator): %w", path, err)
		}
		return nil
	}
	if err := set(dir); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := set(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

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
