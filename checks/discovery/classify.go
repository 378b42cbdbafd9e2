package discovery

import (
	"fmt"
	"slices"
	"strings"
)

// Classes are the device classes a sweep names. router and firewall are
// the "router/firewall" group; nas, camera, phone and iot have no check
// kinds of their own and are configured as class other.
var Classes = []string{"server", "workstation", "printer", "switch", "router", "firewall", "access_point",
	"ups", "pdu", "nas", "camera", "phone", "iot", "unknown"}

// clue is one piece of evidence for a class, with its weight (0..1).
type clue struct {
	class  string
	weight float64
	why    string
}

// vendorHints are MAC vendors (substrings of the IEEE organisation name,
// upper case) that mostly make one class of device. A vendor alone is a
// weak clue: Hewlett Packard makes servers and printers.
var vendorHints = []struct{ sub, class string }{
	{"BROTHER", "printer"}, {"SEIKO EPSON", "printer"}, {"LEXMARK", "printer"}, {"XEROX", "printer"},
	{"KYOCERA", "printer"}, {"RICOH", "printer"}, {"CANON", "printer"}, {"KONICA", "printer"},
	{"HIKVISION", "camera"}, {"DAHUA", "camera"}, {"AXIS COMMUNICATIONS", "camera"}, {"MOBOTIX", "camera"},
	{"POLYCOM", "phone"}, {"YEALINK", "phone"}, {"SNOM", "phone"}, {"GRANDSTREAM", "phone"}, {"MITEL", "phone"},
	{"SYNOLOGY", "nas"}, {"QNAP", "nas"},
	{"ESPRESSIF", "iot"}, {"TUYA", "iot"}, {"SHELLY", "iot"}, {"SONOS", "iot"},
	{"UBIQUITI", "access_point"}, {"RUCKUS", "access_point"}, {"ARUBA", "access_point"},
	{"AMERICAN POWER CONVERSION", "ups"}, {"EATON", "ups"},
	{"FORTINET", "firewall"}, {"PALO ALTO", "firewall"}, {"SONICWALL", "firewall"}, {"WATCHGUARD", "firewall"},
	{"MIKROTIK", "router"}, {"JUNIPER", "router"},
}

// classify names h's class from what it answered, with the evidence and a
// confidence: the best class's summed clue weights, capped at 0.99.
func classify(h *Host) {
	var cl []clue
	add := func(class string, w float64, format string, args ...any) {
		cl = append(cl, clue{class, w, fmt.Sprintf(format, args...)})
	}
	open := func(p int) bool { return slices.Contains(h.OpenPorts, p) }
	if h.Self {
		add("server", 0.5, "this box's own address")
	}
	if s := h.SNMP; s != nil {
		descr := strings.ToLower(s.Descr)
		switch {
		case s.Has("printer"):
			add("printer", 0.9, "Printer-MIB answers")
		case s.Has("ups") || s.Has("apc_ups"):
			add("ups", 0.9, "UPS-MIB answers")
		case s.Has("apc_pdu") || strings.Contains(descr, "pdu"):
			add("pdu", 0.85, "APC rack PDU MIB answers")
		case s.Enterprise == 705 || s.Enterprise == 534 || s.Enterprise == 476:
			add("ups", 0.7, "sysObjectID is a UPS maker's (enterprise %d)", s.Enterprise)
		case s.Enterprise == 25461 || s.Enterprise == 12356 || s.Enterprise == 8741 || strings.Contains(descr, "firewall"):
			add("firewall", 0.8, "sysObjectID/sysDescr of a firewall")
		case s.Enterprise == 41112 || strings.Contains(descr, "airos") || strings.Contains(descr, "access point"):
			add("access_point", 0.75, "sysObjectID/sysDescr of a wireless access point")
		case s.BridgePorts >= 4 && !s.Has("host_resources"):
			add("switch", 0.85, "BRIDGE-MIB answers with %d ports", s.BridgePorts)
		case s.Has("host_resources") && strings.Contains(descr, "windows") && !strings.Contains(descr, "server") &&
			(strings.Contains(descr, "workstation") || strings.Contains(descr, "windows 1")):
			add("workstation", 0.7, "HOST-RESOURCES-MIB answers; sysDescr names a Windows desktop")
		case s.Has("host_resources"):
			add("server", 0.7, "HOST-RESOURCES-MIB storage answers")
		case s.Forwarding && s.Interfaces >= 2:
			add("router", 0.6, "SNMP ipForwarding is on with %d interfaces", s.Interfaces)
		case strings.Contains(descr, "synology") || strings.Contains(descr, "qnap"):
			add("nas", 0.8, "sysDescr names a NAS")
		default:
			add("unknown", 0.1, "SNMP answers (sysObjectID %s) but no MIB tells its class", s.ObjectID)
		}
	}
	for _, l := range h.LLDP {
		what := strings.TrimSpace(l.SysName + " " + clean(l.SysDescr, 60))
		from := fmt.Sprintf("%s (switch %s port %d)", l.Proto, l.Switch, l.LocalPort)
		// A layer-3 switch says bridge and router: it is a switch.
		switch caps := l.Caps; {
		case slices.Contains(caps, "telephone"):
			add("phone", 0.7, "%s: a telephone, %s", from, what)
		case slices.Contains(caps, "access_point"):
			add("access_point", 0.6, "%s: a Wi-Fi access point, %s", from, what)
		case slices.Contains(caps, "bridge"):
			add("switch", 0.5, "%s: a bridge, %s", from, what)
		case slices.Contains(caps, "router"):
			add("router", 0.5, "%s: a router, %s", from, what)
		case slices.Contains(caps, "station"):
			add("unknown", 0, "%s: a station, %s", from, what)
		}
	}
	if m := h.MDNS; m != nil {
		hinted := false
		for _, svc := range m.Services {
			for _, hint := range mdnsServiceHints {
				if svc == hint.service {
					add(hint.class, 0.4, "mDNS: offers %s", svc)
					hinted = true
				}
			}
		}
		if !hinted && len(m.Services) > 0 {
			add("unknown", 0, "mDNS: offers %s", strings.Join(m.Services, ", "))
		}
	}
	if open(9100) {
		w := 0.6
		if open(631) {
			w = 0.7
		}
		add("printer", w, "port 9100 open (raw printing)")
	} else if open(631) {
		add("printer", 0.3, "port 631 open (IPP)")
	}
	if open(3389) {
		add("server", 0.35, "port 3389 open (RDP)")
	}
	if open(22) {
		add("server", 0.45, "port 22 open (SSH)")
	}
	if open(445) && !open(3389) && !open(22) {
		add("workstation", 0.35, "port 445 open (SMB) without RDP or SSH")
	}
	if (open(80) || open(443)) && (open(22) || open(3389)) {
		add("server", 0.15, "serves web pages")
	}
	for _, w := range h.Web {
		t := strings.ToLower(w.Title + " " + w.Server)
		switch {
		case w.Title == "" && w.Server == "":
		case strings.Contains(t, "laserjet") || strings.Contains(t, "printer") || strings.Contains(t, "officejet"):
			add("printer", 0.4, "web page %q", w.Title)
		case strings.Contains(t, "synology") || strings.Contains(t, "qnap") || strings.Contains(t, "diskstation"):
			add("nas", 0.6, "web page %q", w.Title)
		case strings.Contains(t, "unifi") || strings.Contains(t, "access point"):
			add("access_point", 0.4, "web page %q", w.Title)
		case strings.Contains(t, "pfsense") || strings.Contains(t, "opnsense") || strings.Contains(t, "fortigate"):
			add("firewall", 0.6, "web page %q", w.Title)
		}
	}
	if up := strings.ToUpper(h.Vendor); up != "" {
		for _, v := range vendorHints {
			if strings.Contains(up, v.sub) {
				add(v.class, 0.3, "MAC vendor %s", h.Vendor)
				break
			}
		}
	}
	score := map[string]float64{}
	for _, c := range cl {
		score[c.class] += c.weight
	}
	best, bestScore := "unknown", 0.0
	for _, c := range Classes {
		if c != "unknown" && score[c] > bestScore {
			best, bestScore = c, score[c]
		}
	}
	h.Class, h.Confidence = best, min(bestScore, 0.99)
	h.Evidence = nil
	for _, c := range cl {
		if c.class == best || best == "unknown" {
			h.Evidence = append(h.Evidence, c.why)
		}
	}
	if best == "unknown" {
		h.Confidence = 0
		switch {
		case len(h.OpenPorts) == 0 && h.SNMP == nil && h.ICMP:
			h.Evidence = append(h.Evidence, "answers ICMP echo only")
		case len(h.OpenPorts) == 0 && h.SNMP == nil:
			h.Evidence = append(h.Evidence, "answers ARP only")
		}
	}
	h.Confidence = float64(int(h.Confidence*100+0.5)) / 100
}
