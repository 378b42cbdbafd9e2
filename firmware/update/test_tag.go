//go:build firmwaretest

package update

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Built only with -tags firmwaretest, for the real-binary tests
// (firmware_e2e_test.go):
//
//   - OUTPOST_TEST_FIRMWARE_PAUSE=STEP makes the update stop for an hour
//     at that step (staged, prev, marked, swapped, rolling-back,
//     rolled-back), once: the first time creates the file named by
//     OUTPOST_TEST_FIRMWARE_PAUSE_ONCE; the test kills the daemon there.
//   - OUTPOST_TEST_FIRMWARE_FAULT=VERSION:WHAT makes that version fail:
//     "crash" at start, "unhealthy" in its health window.
func init() {
	pauseHook = func(step string) {
		if os.Getenv("OUTPOST_TEST_FIRMWARE_PAUSE") != step {
			return
		}
		if once := os.Getenv("OUTPOST_TEST_FIRMWARE_PAUSE_ONCE"); once != "" {
			f, err := os.OpenFile(once, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return
			}
			f.Close()
		}
		fmt.Fprintf(os.Stderr, "FIRMWARE-TEST-PAUSE %s\n", step)
		time.Sleep(time.Hour)
	}
	faultHook = func(version, what string) bool {
		v, w, _ := strings.Cut(os.Getenv("OUTPOST_TEST_FIRMWARE_FAULT"), ":")
		return v == version && w == what
	}
}
