package config

import (
	"fmt"
	"net/url"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"outpost/checks"
)

// PhoneHome sends summaries to the MSP (off while url is empty).
type PhoneHome struct {
	// URL is the receiver's HTTPS endpoint, e.g.
	// https://hq.example.net:8444/v1/summaries.
	URL string `yaml:"url"`
	// Interval between summaries (default 5m); incidents opening or
	// resolving send one at once too.
	Interval time.Duration `yaml:"interval"`
	// CAFile pins the CA of a self-hosted receiver (PEM); empty uses the
	// system's roots.
	CAFile string `yaml:"ca_file"`
	// Quota bounds the outbox (default 20MB); beyond it the oldest
	// summaries are coalesced: dropped, their count and figures kept and
	// reported (docs/phone-home.md).
	Quota checks.Bytes `yaml:"quota"`
	// BackoffMax caps the wait between attempts (default 5m).
	BackoffMax time.Duration `yaml:"backoff_max"`
	// Timeout bounds one request to the receiver (default 30s): a slow
	// satellite or mobile link may need more.
	Timeout time.Duration `yaml:"timeout"`

	line int
}

// Phone-home defaults.
const (
	DefaultPhoneInterval = 5 * time.Minute
	DefaultPhoneQuota    = 20 << 20
	DefaultPhoneBackoff  = 5 * time.Minute
	DefaultPhoneTimeout  = 30 * time.Second
)

// Same reports whether q asks for the same phone home as p (where in
// the file it was written does not matter).
func (p PhoneHome) Same(q PhoneHome) bool {
	p.line, q.line = 0, 0
	return p == q
}

// Enabled reports whether phone home is configured.
func (p PhoneHome) Enabled() bool { return p.URL != "" }

func (c *Config) validatePhoneHome(d *decoder, root *yaml.Node) {
	p := &c.PhoneHome
	if n := findKey(root, "phonehome"); n != nil {
		p.line = n.Line
	}
	fail := func(field, format string, args ...any) {
		d.errs = append(d.errs, &Error{File: c.File, Line: p.line, Field: "phonehome." + field, Msg: fmt.Sprintf(format, args...)})
	}
	if p.Interval == 0 {
		p.Interval = DefaultPhoneInterval
	}
	if p.Quota == 0 {
		p.Quota = DefaultPhoneQuota
	}
	if p.BackoffMax == 0 {
		p.BackoffMax = DefaultPhoneBackoff
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultPhoneTimeout
	}
	if p.URL == "" {
		return
	}
	u, err := url.Parse(p.URL)
	switch {
	case err != nil:
		fail("url", "%q is not a URL: %v", p.URL, err)
	case u.Scheme != "https":
		fail("url", "%q must be https:// (summaries carry the site's incidents)", p.URL)
	case u.Host == "":
		fail("url", "%q has no host", p.URL)
	}
	if p.Interval < 200*time.Millisecond || p.Interval > 24*time.Hour {
		fail("interval", "%s is out of range (200ms to 24h)", p.Interval)
	}
	if p.Quota < 64<<10 {
		fail("quota", "%s is too small (at least 64KiB)", p.Quota)
	}
	if p.BackoffMax < time.Second || p.BackoffMax > 24*time.Hour {
		fail("backoff_max", "%s is out of range (1s to 24h)", p.BackoffMax)
	}
	if p.Timeout < time.Second || p.Timeout > 10*time.Minute {
		fail("timeout", "%s is out of range (1s to 10m)", p.Timeout)
	}
	if p.CAFile != "" {
		if _, err := os.Stat(p.CAFile); err != nil {
			fail("ca_file", "%v", err)
		}
	}
}
