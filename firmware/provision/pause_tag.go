//go:build provisionpause

package provision

import (
	"os"
	"time"
)

// Built only with -tags provisionpause, for the real-binary crash test
// (provision_e2e_test.go): every apply sleeps for the duration in
// OUTPOST_TEST_PROVISION_PAUSE between validation and the switch, so the
// test can kill the daemon there. Production builds carry no such switch.
func init() {
	defaultBeforeSwitch = func() {
		if d, err := time.ParseDuration(os.Getenv("OUTPOST_TEST_PROVISION_PAUSE")); err == nil && d > 0 {
			time.Sleep(d)
		}
	}
}
