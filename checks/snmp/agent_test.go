package snmp

import (
	"net"

	"github.com/gosnmp/gosnmp"
)

// serveLoopingAgent is a misbehaving agent (the kind that exists in the
// field and cannot be run here for real): whatever is asked, it answers
// the same OID, so a walk that trusted it would never end.
func serveLoopingAgent(pc net.PacketConn) {
	buf := make([]byte, 65535)
	dec := &gosnmp.GoSNMP{Logger: gosnmp.NewLogger(nil)}
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		req, err := dec.SnmpDecodePacket(buf[:n])
		if err != nil {
			continue
		}
		resp := &gosnmp.SnmpPacket{Version: req.Version, Community: req.Community, PDUType: gosnmp.GetResponse, RequestID: req.RequestID,
			Variables: []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.2.2.1.2.5", Type: gosnmp.OctetString, Value: []byte("loop")}}}
		out, err := resp.MarshalMsg()
		if err != nil {
			continue
		}
		pc.WriteTo(out, from)
	}
}
