package healing

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "snmp_set", Summary: "send an SNMP SET to a configured device (a PDU outlet, a UPS test)", New: newSNMPSet})
}

// SNMPSet writes one value to one OID of a configured device, through the
// daemon's SNMP poller: the device's snmp: section (v1, v2c or v3) and the
// one session code the SNMP checks use.
type SNMPSet struct {
	device checks.Device
	snmp   checks.SNMPPoller
	oid    string
	typ    gosnmp.Asn1BER
	value  any
	show   string
}

func newSNMPSet(opts checks.Options, env Env, deps checks.Deps) (Action, error) {
	var o struct {
		Action string `yaml:"action"`
		Device string `yaml:"device"`
		OID    string `yaml:"oid"`
		Type   string `yaml:"type"`
		Value  string `yaml:"value"`
	}
	if err := opts.Decode(&o); err != nil {
		return nil, err
	}
	var dev *checks.Device
	if env != nil {
		dev = env.Device(o.Device)
	}
	if o.Device == "" || dev == nil {
		return nil, &checks.FieldError{Field: "device", Msg: fmt.Sprintf("%q is not a configured device", o.Device)}
	}
	switch {
	case dev.SNMP == nil:
		return nil, &checks.FieldError{Field: "device", Msg: fmt.Sprintf("device %q has no snmp: section", dev.Name)}
	case dev.Address == "":
		return nil, &checks.FieldError{Field: "device", Msg: fmt.Sprintf("device %q has no address", dev.Name)}
	}
	// A copy: the action keeps the device as it was configured.
	acc := *dev.SNMP
	acc.ApplyDefaults()
	if err := acc.Err(); err != nil {
		return nil, &checks.FieldError{Field: "device", Msg: fmt.Sprintf("device %q: snmp: %v", dev.Name, err)}
	}
	s := &SNMPSet{device: *dev, snmp: deps.SNMP, show: o.Value}
	s.device.SNMP = &acc
	oid := strings.TrimPrefix(o.OID, ".")
	for _, part := range strings.Split(oid, ".") {
		if _, err := strconv.ParseUint(part, 10, 32); err != nil || oid == "" {
			return nil, &checks.FieldError{Field: "oid", Msg: fmt.Sprintf("%q is not a numeric OID like 1.3.6.1.2.1.1.6.0", o.OID)}
		}
	}
	s.oid = "." + oid
	switch o.Type {
	case "integer":
		v, err := strconv.Atoi(o.Value)
		if err != nil {
			return nil, &checks.FieldError{Field: "value", Msg: fmt.Sprintf("%q is not an integer", o.Value)}
		}
		s.typ, s.value = gosnmp.Integer, v
	case "unsigned", "gauge":
		v, err := strconv.ParseUint(o.Value, 10, 32)
		if err != nil {
			return nil, &checks.FieldError{Field: "value", Msg: fmt.Sprintf("%q is not an unsigned 32-bit number", o.Value)}
		}
		s.typ, s.value = gosnmp.Gauge32, uint32(v)
	case "string":
		s.typ, s.value = gosnmp.OctetString, o.Value
	case "ipaddress":
		if net.ParseIP(o.Value).To4() == nil {
			return nil, &checks.FieldError{Field: "value", Msg: fmt.Sprintf("%q is not an IPv4 address", o.Value)}
		}
		s.typ, s.value = gosnmp.IPAddress, o.Value
	default:
		return nil, &checks.FieldError{Field: "type", Msg: fmt.Sprintf("%q is not one of integer, unsigned, string, ipaddress", o.Type)}
	}
	return s, nil
}

// Run sends the SET and checks the agent's answer.
func (s *SNMPSet) Run(ctx context.Context) (string, error) {
	if s.snmp == nil {
		return "", fmt.Errorf("snmp set %s on %s: no SNMP poller in this process", s.oid, s.device.Name)
	}
	if err := s.snmp.Set(ctx, &s.device, gosnmp.SnmpPDU{Name: s.oid, Type: s.typ, Value: s.value}); err != nil {
		return "", fmt.Errorf("snmp set %s on %s: %w", s.oid, s.device.Name, err)
	}
	return fmt.Sprintf("%s set %s = %s", s.device.Name, s.oid, s.show), nil
}

// Target is the device.
func (s *SNMPSet) Target() string { return "snmp:" + s.device.Name }

// Describe says what it does.
func (s *SNMPSet) Describe() string {
	return fmt.Sprintf("SNMP SET %s = %s on %s", s.oid, s.show, s.device.Name)
}
