package snmp

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"outpost/checks"
)

// Get reads one OID or a few and judges the values: numbers against
// thresholds, text against a regular expression.
type Get struct {
	base
	oids  []string
	th    checks.Thresholds
	match *regexp.Regexp
}

var _ checks.Checker = (*Get)(nil)

type getOptions struct {
	// OID is a single numeric OID; OIDs a list (at most 60).
	OID  string   `yaml:"oid"`
	OIDs []string `yaml:"oids"`
	// Match is a regular expression every text value must match.
	Match string `yaml:"match"`
	checks.Thresholds
}

func newGet(s checks.Spec, d checks.Deps) (checks.Checker, error) {
	var o getOptions
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	b, err := newBase(s, d)
	if err != nil {
		return nil, err
	}
	g := &Get{base: b, th: o.Thresholds}
	if o.OID != "" {
		g.oids = append(g.oids, o.OID)
	}
	g.oids = append(g.oids, o.OIDs...)
	if len(g.oids) == 0 {
		return nil, &checks.FieldError{Field: "options.oid", Msg: "is required (a numeric OID such as 1.3.6.1.2.1.1.3.0, or oids: [...])"}
	}
	if len(g.oids) > gosnmp.MaxOids {
		return nil, &checks.FieldError{Field: "options.oids", Msg: fmt.Sprintf("has %d OIDs; at most %d fit one request", len(g.oids), gosnmp.MaxOids)}
	}
	for i, o := range g.oids {
		if _, err := parseOID(normOID(o)); err != nil {
			return nil, &checks.FieldError{Field: "options.oid", Msg: err.Error() + " (names like sysUpTime.0 are not resolved: use the number)"}
		}
		g.oids[i] = normOID(o)
	}
	if o.Match != "" {
		if g.match, err = regexp.Compile(o.Match); err != nil {
			return nil, &checks.FieldError{Field: "options.match", Msg: fmt.Sprintf("%q is not a regular expression: %v", o.Match, err)}
		}
	}
	return g, nil
}

// Check fetches the OIDs in one request.
func (g *Get) Check(ctx context.Context) checks.Result {
	start := time.Now()
	pdus, err := g.src().Get(ctx, g.oids...)
	if err != nil {
		return down(start, err)
	}
	r := checks.Result{Time: start, Status: checks.OK, Latency: checks.Since(start)}
	var parts []string
	have := false
	for _, p := range pdus {
		name := strings.TrimPrefix(p.Name, ".")
		switch {
		case !present(p):
			r.Status = checks.Worst(r.Status, checks.Unknown)
			parts = append(parts, fmt.Sprintf("%s: %s (the device does not have this OID)", name, missingName(p)))
		case p.Type == gosnmp.OctetString || p.Type == gosnmp.ObjectIdentifier || p.Type == gosnmp.IPAddress:
			v := str(p)
			st := checks.OK
			if g.match != nil && !g.match.MatchString(v) {
				st = checks.Critical
				v += fmt.Sprintf(" (does not match %q)", g.match.String())
			}
			if f, ok := float(p); ok && g.match == nil {
				st = g.th.Eval(f)
				if !have {
					r, have = r.WithValue(f), true
				}
			}
			r.Status = checks.Worst(r.Status, st)
			parts = append(parts, fmt.Sprintf("%s = %q", name, v))
		default:
			f, ok := float(p)
			if !ok {
				parts = append(parts, fmt.Sprintf("%s = %v", name, p.Value))
				continue
			}
			st := g.th.Eval(f)
			r.Status = checks.Worst(r.Status, st)
			if !have {
				r, have = r.WithValue(f), true
			}
			parts = append(parts, fmt.Sprintf("%s = %s", name, trimFloat(f)))
		}
	}
	r.Detail = strings.Join(parts, "; ")
	return r
}

func missingName(p gosnmp.SnmpPDU) string {
	switch p.Type {
	case gosnmp.NoSuchInstance:
		return "noSuchInstance"
	case gosnmp.EndOfMibView:
		return "endOfMibView"
	}
	return "noSuchObject"
}

func trimFloat(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%.2f", f)
}
