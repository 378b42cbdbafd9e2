package config

import "fmt"

// validateStore refuses retentions that would delete history the store
// still needs: each coarser resolution must be kept at least as long as
// the finer one it is rolled up from (the store keeps raw results at
// least 26 h whatever is set, so a day is always rolled up first).
func (c *Config) validateStore(d *decoder) {
	s := c.Store
	fail := func(field, format string, args ...any) {
		d.errs = append(d.errs, &Error{File: c.File, Field: "store." + field, Msg: fmt.Sprintf(format, args...)})
	}
	if s.Rollup5mRetention < s.RawRetention {
		fail("rollup_5m_retention", "%s is shorter than raw_retention %s: 5-minute rollups must outlive the raw results they summarise", s.Rollup5mRetention, s.RawRetention)
	}
	if s.Rollup1hRetention < s.Rollup5mRetention {
		fail("rollup_1h_retention", "%s is shorter than rollup_5m_retention %s: hourly rollups (and status changes) must outlive the 5-minute ones", s.Rollup1hRetention, s.Rollup5mRetention)
	}
}
