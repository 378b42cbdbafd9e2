//go:build windows

package private

import (
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sddl: owned by Administrators; SYSTEM and Administrators have full
// control, inherited by everything inside; nothing is inherited from the
// parent (P: protected).
const sddl = "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// Restrict gives dir and every entry directly in it that owner and
// access list. It needs Administrator rights (the service runs as
// SYSTEM).
func Restrict(dir string) error {
	sd, err := windows.SecurityDescriptorFromString(sddl)
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

// Verify reads dir's access list back and reports anything other than
// a protected list that allows SYSTEM and Administrators only.
func Verify(dir string) error {
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the access list of %s: %w", dir, err)
	}
	ctl, _, err := sd.Control()
	if err != nil {
		return err
	}
	if ctl&windows.SE_DACL_PROTECTED == 0 {
		return fmt.Errorf("%s inherits its access list from its parent (it reads back as %s)", dir, sd.String())
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	if dacl == nil {
		return fmt.Errorf("%s has no access list: everyone may write it", dir)
	}
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Errorf("reading entry %d of the access list of %s: %w", i, dir, err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue // a deny entry only narrows
		}
		// The SID begins at SidStart (the ACE's layout, as Windows
		// defines it).
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if !sid.IsWellKnown(windows.WinLocalSystemSid) && !sid.IsWellKnown(windows.WinBuiltinAdministratorsSid) {
			return fmt.Errorf("%s also allows %s (it reads back as %s)", dir, sid.String(), sd.String())
		}
	}
	return nil
}
