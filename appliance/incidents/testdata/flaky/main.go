// Command flaky is a tiny service for the self-healing tests:
//
//	flaky serve ADDR        listen on ADDR and accept connections
//	flaky start ADDR        start `flaky serve ADDR` in the background
//	flaky count FILE        append a line to FILE (a restart counter)
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: flaky serve|start|count ARG")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		ln, err := net.Listen("tcp", os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(1)
			}
			c.Close()
		}
	case "start":
		cmd := exec.Command(os.Args[0], "serve", os.Args[2])
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		// Wait until it listens, so the re-check sees it up.
		for i := 0; i < 100; i++ {
			if c, err := net.Dial("tcp", os.Args[2]); err == nil {
				c.Close()
				fmt.Printf("started pid %d on %s\n", cmd.Process.Pid, os.Args[2])
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		fmt.Fprintln(os.Stderr, "did not come up")
		os.Exit(1)
	case "count":
		f, err := os.OpenFile(os.Args[2], os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Fprintln(f, "restart")
		f.Close()
		fmt.Println("restarted")
	}
}
