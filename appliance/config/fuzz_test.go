package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"outpost/appliance/config"
	_ "outpost/appliance/kinds"
)

// FuzzParse: a config from a stick, a UI edit or a file is hostile until
// parsed; any input gives a config or errors naming where, never a panic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(config.DefaultYAML())
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("fuzz.yaml", data)
		if err == nil && cfg == nil {
			t.Fatal("no config and no error")
		}
		if err != nil && err.Error() == "" {
			t.Fatal("an error without a message")
		}
	})
}
