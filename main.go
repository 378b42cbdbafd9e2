// Command outpost is the MSP's on-site monitoring appliance: one binary
// that runs the daemon, its CLI, the Windows/Linux agent and the MSP's
// reference receiver.
package main

import (
	"os"

	"outpost/appliance/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
