package config

import "bytes"

// EmbeddedSource is the source recorded for the embedded default config.
const EmbeddedSource = "embedded default"

// Source is the source recorded for a config read from its file: the
// file's name, or EmbeddedSource for the embedded default.
func Source(file *Config) string {
	if isEmbedded(file) {
		return EmbeddedSource
	}
	return file.File
}

func isEmbedded(file *Config) bool { return file.File == "" || file.File == "default.yaml" }

// Stored is the config version the store has in force.
type Stored struct {
	Raw    []byte
	Source string
}

// Startup is what runs at start, as StartupConfig chooses it.
type Startup struct {
	Config *Config
	Source string
	// Kept is true when the stored version (a web UI edit or a
	// provisioning bundle) runs instead of the file.
	Kept bool
	// Refused is why the stored version would have run but does not: it
	// no longer validates (the file runs).
	Refused error
}

// StartupConfig chooses which config runs at start: file (the config
// file, or the embedded default when there is none), stored (the
// version in force when the box stopped; nil when there is none or it
// cannot be read) or seed (the file's text when it was last applied).
//
// While the file stays the same as the seed, changes made in the web UI
// or by a provisioning bundle stay in force across restarts; a changed
// file wins. The embedded default is only a seed for a box never
// configured: a firmware update that changes it does not replace a
// provisioned (or UI-edited) site config. A stored version that no longer
// validates gives way to the file.
func StartupConfig(file *Config, stored *Stored, seed []byte) Startup {
	fileRun := Startup{Config: file, Source: Source(file)}
	if stored == nil || bytes.Equal(stored.Raw, file.Raw) {
		return fileRun
	}
	if !bytes.Equal(seed, file.Raw) && !(isEmbedded(file) && stored.Source != EmbeddedSource) {
		return fileRun
	}
	cfg, err := Parse(file.File, stored.Raw)
	if err != nil {
		fileRun.Refused = err
		return fileRun
	}
	cfg.File = file.File
	return Startup{Config: cfg, Source: stored.Source, Kept: true}
}
