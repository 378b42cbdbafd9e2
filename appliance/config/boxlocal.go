package config

import "strings"

// BoxLocalKeys are the top-level settings that belong to the box, not to
// the site: where its status endpoint and web UI listen, and where it
// looks for sticks. A site config (a provisioning bundle) that leaves one
// out keeps the box's own (KeepBoxLocal); one that sets it moves the
// listener at once.
var BoxLocalKeys = []string{"listen", "ui", "provisioning"}

// KeepBoxLocal merges into site (a new config's text) the box-local
// settings of running (the config in force) that site does not set, and
// says which it kept. A box running the embedded default keeps none: the
// default's loopback-only UI is for a box nobody configured yet, and a
// bundle without `ui:` gets the site default (HTTPS on every interface).
func KeepBoxLocal(site []byte, running *Config) ([]byte, []string, error) {
	if running == nil || isEmbedded(running) {
		return site, nil, nil
	}
	var kept []string
	out := site
	for _, key := range BoxLocalKeys {
		if SectionOf(out, key) != "" {
			continue
		}
		have := SectionOf(running.Raw, key)
		if strings.TrimSpace(have) == "" {
			continue
		}
		merged, err := ReplaceSection(out, key, have)
		if err != nil {
			return nil, nil, err
		}
		out, kept = merged, append(kept, key)
	}
	return out, kept, nil
}
