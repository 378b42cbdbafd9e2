package ui

// Unit says what a check kind's Value measures, for graph axes, the
// latest-results table and sparklines: the kinds document their Value in
// their own files (checks/*.go, checks/snmp, checks/agent); this is the
// one place the UI names it. A kind without a Value is graphed by its
// response time in ms.
type Unit struct {
	// Symbol follows the number: "ms", "%", "min".
	Symbol string
	// What the number is: "response time", "used".
	What string
}

var kindUnits = map[string]Unit{
	"ping":            {"ms", "round trip"},
	"tcp":             {"ms", "connect time"},
	"http":            {"ms", "response time"},
	"dns":             {"ms", "response time"},
	"memory":          {"%", "used"},
	"cpu":             {"%", "busy"},
	"disk":            {"%", "used"},
	"agent_disk":      {"%", "used (fullest volume)"},
	"agent_cpu":       {"%", "busy"},
	"agent_memory":    {"%", "used"},
	"agent_uptime":    {"h", "uptime"},
	"agent_process":   {"processes", "running"},
	"agent_eventlog":  {"entries", "matching"},
	"agent_folder":    {"MiB", "folder size"},
	"process":         {"processes", "running"},
	"snmp_storage":    {"%", "used (fullest volume)"},
	"snmp_cpu":        {"%", "busy"},
	"snmp_printer":    {"% left", "lowest supply"},
	"snmp_ups":        {"min", "runtime left"},
	"snmp_uptime":     {"days", "uptime"},
	"snmp_interfaces": {"down", "interfaces down"},
}

// responseUnit is what a graph of a kind without Value plots.
var responseUnit = Unit{"ms", "response time"}

// UnitOf returns what kind's Value measures; a kind not listed (snmp_get,
// agent_perf: the number is whatever the OID or counter is) has an empty
// Symbol.
func UnitOf(kind string) Unit {
	if u, ok := kindUnits[kind]; ok {
		return u
	}
	return Unit{What: "value"}
}

// withUnit prints a number with its unit: "42 ms", "8 % left", "3".
func withUnit(v float64, u Unit) string {
	if u.Symbol == "" {
		return fmtNum(v)
	}
	return fmtNum(v) + " " + u.Symbol
}
