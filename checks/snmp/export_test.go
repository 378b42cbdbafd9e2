package snmp

// SimAddr gives external tests (the CLI test) the snmpsim address, or ""
// with the reason when it is not running.
func SimAddr() (addr, skip string) {
	if sim.skipMsg != "" {
		return "", sim.skipMsg
	}
	return "127.0.0.1:" + itoa(sim.port), ""
}

func itoa(n int) string {
	b := []byte{}
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
