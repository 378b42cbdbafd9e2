package update

// pauseHook and faultHook are nil except in binaries built with the
// firmwaretest tag (test_tag.go), which the real-binary tests kill at
// every step of an update or make fail on purpose. Production builds
// carry no such switch.
var (
	pauseHook func(step string)
	faultHook func(version, what string) bool
)

func pause(step string) {
	if pauseHook != nil {
		pauseHook(step)
	}
}

func fault(version, what string) bool { return faultHook != nil && faultHook(version, what) }

// Fault says whether the firmwaretest build was told to make version
// fail in way what ("crash" at start, "unhealthy" in its health window).
// Always false in production builds.
func Fault(version, what string) bool { return fault(version, what) }
