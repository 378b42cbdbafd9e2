package healing

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"outpost/checks"
)

func init() {
	Register(Kind{Name: "snmp_set", Summary: "send an SNMP SET to a configured device (a PDU outlet, a UPS test)", New: newSNMPSet})
}

// SNMPAccess is how to reach a device over SNMP, as the config has it.
type SNMPAccess struct {
	Address   string
	Port      int
	Version   string // "1" or "2c"
	Community string
	Timeout   time.Duration
	Retries   int
}

// SNMPDevice is implemented by the config's devices.
type SNMPDevice interface {
	SNMPAccess() (SNMPAccess, error)
}

// SNMPSet writes one value to one OID.
type SNMPSet struct {
	device string
	acc    SNMPAccess
	oid    string
	typ    gosnmp.Asn1BER
	value  any
	show   string
}

func newSNMPSet(opts checks.Options, env Env) (Action, error) {
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
	var dev SNMPDevice
	if env != nil {
		dev, _ = env.Lookup("device", o.Device).(SNMPDevice)
	}
	if o.Device == "" || dev == nil {
		return nil, &checks.FieldError{Field: "device", Msg: fmt.Sprintf("%q is not a configured device", o.Device)}
	}
	acc, err := dev.SNMPAccess()
	if err != nil {
		return nil, &checks.FieldError{Field: "device", Msg: err.Error()}
	}
	oid := strings.TrimPrefix(o.OID, ".")
	for _, part := range strings.Split(oid, ".") {
		if _, err := strconv.ParseUint(part, 10, 32); err != nil || oid == "" {
			return nil, &checks.FieldError{Field: "oid", Msg: fmt.Sprintf("%q is not a numeric OID like 1.3.6.1.2.1.1.6.0", o.OID)}
		}
	}
	s := &SNMPSet{device: o.Device, acc: acc, oid: "." + oid, show: o.Value}
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
	g := &gosnmp.GoSNMP{
		Target: s.acc.Address, Port: uint16(s.acc.Port), Community: s.acc.Community,
		Version: gosnmp.Version2c, Timeout: s.acc.Timeout, Retries: s.acc.Retries, Context: ctx,
		MaxOids: gosnmp.MaxOids,
	}
	if s.acc.Version == "1" {
		g.Version = gosnmp.Version1
	}
	if err := g.Connect(); err != nil {
		return "", fmt.Errorf("snmp %s: %w", s.acc.Address, err)
	}
	defer g.Conn.Close()
	res, err := g.Set([]gosnmp.SnmpPDU{{Name: s.oid, Type: s.typ, Value: s.value}})
	if err != nil {
		return "", fmt.Errorf("snmp set %s on %s: %w", s.oid, s.device, err)
	}
	if res.Error != gosnmp.NoError {
		return "", fmt.Errorf("snmp set %s on %s: agent answered %s", s.oid, s.device, res.Error)
	}
	return fmt.Sprintf("%s set %s = %s", s.device, s.oid, s.show), nil
}

// Target is the device.
func (s *SNMPSet) Target() string { return "snmp:" + s.device }

// Describe says what it does.
func (s *SNMPSet) Describe() string {
	return fmt.Sprintf("SNMP SET %s = %s on %s", s.oid, s.show, s.device)
}
