// Package kinds is the one place that links in every check kind,
// notification channel kind, healing action and feature-owned config
// section, as Prometheus' discovery/install does for its mechanisms:
// every binary and test that imports it sees the same set, and config
// validation knows them all.
package kinds

import (
	_ "outpost/appliance/report" // the report: section
	_ "outpost/checks"           // the built-in kinds: ping, tcp, http, dns, cpu, memory, disk, process, systemd, clock
	_ "outpost/checks/agent"     // the agent_* kinds
	_ "outpost/checks/backup"    // the backup kind (dead-man's switch)
	_ "outpost/checks/snmp"      // the snmp_* kinds
	_ "outpost/checks/syslog"    // the syslog: section (log_match is a built-in kind)
	_ "outpost/healing"          // the remediation actions and the healing: section
	_ "outpost/notify"           // the channel kinds and the notify: section
)
