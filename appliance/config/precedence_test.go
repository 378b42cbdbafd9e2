package config_test

import (
	"strings"
	"testing"

	"outpost/appliance/config"
)

func TestStartupConfig(t *testing.T) {
	parse := func(name, text string) *config.Config {
		t.Helper()
		c, err := config.Parse(name, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const (
		fileA   = "site: A\n"
		fileB   = "site: B\n"
		edited  = "site: Edited\n"
		invalid = "site: Edited\nchekcs: []\n"
	)
	def, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	defRaw := string(def.Raw)
	cases := []struct {
		name         string
		file         *config.Config
		stored       *config.Stored
		seed         string
		wantSite     string
		wantSource   string
		kept, refuse bool
	}{
		{"first start: the file", parse("site.yaml", fileA), nil, "", "A", "site.yaml", false, false},
		{"stored is the file", parse("site.yaml", fileA), &config.Stored{Raw: []byte(fileA), Source: "site.yaml"}, fileA, "A", "site.yaml", false, false},
		{"UI edit, file unchanged: the edit", parse("site.yaml", fileA), &config.Stored{Raw: []byte(edited), Source: "web UI by alice"}, fileA, "Edited", "web UI by alice", true, false},
		{"UI edit, file changed: the file", parse("site.yaml", fileB), &config.Stored{Raw: []byte(edited), Source: "web UI by alice"}, fileA, "B", "site.yaml", false, false},
		{"UI edit, no seed yet: the file", parse("site.yaml", fileA), &config.Stored{Raw: []byte(edited), Source: "web UI by alice"}, "", "A", "site.yaml", false, false},
		{"stored no longer validates: the file", parse("site.yaml", fileA), &config.Stored{Raw: []byte(invalid), Source: "web UI by alice"}, fileA, "A", "site.yaml", false, true},
		{"embedded default, provisioned: the bundle", def, &config.Stored{Raw: []byte(edited), Source: "bundle v3"}, "site: older default\n", "Edited", "bundle v3", true, false},
		{"embedded default changed, stored the old default: the new default", def, &config.Stored{Raw: []byte("site: older default\n"), Source: config.EmbeddedSource}, "site: older default\n", def.Site, config.EmbeddedSource, false, false},
		{"embedded default, same default: the default", def, &config.Stored{Raw: []byte(defRaw), Source: config.EmbeddedSource}, defRaw, def.Site, config.EmbeddedSource, false, false},
		{"embedded default, nothing stored", def, nil, "", def.Site, config.EmbeddedSource, false, false},
		{"file named default.yaml counts as embedded", parse("default.yaml", fileA), &config.Stored{Raw: []byte(edited), Source: "web UI by bob"}, "", "Edited", "web UI by bob", true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := config.StartupConfig(c.file, c.stored, []byte(c.seed))
			if got.Config.Site != c.wantSite || got.Source != c.wantSource || got.Kept != c.kept || (got.Refused != nil) != c.refuse {
				t.Fatalf("got site %q source %q kept %v refused %v", got.Config.Site, got.Source, got.Kept, got.Refused)
			}
			if got.Kept && got.Config.File != c.file.File {
				t.Fatalf("kept config names %q, want the file's %q", got.Config.File, c.file.File)
			}
			if c.refuse && !strings.Contains(got.Refused.Error(), "chekcs") {
				t.Fatalf("refused: %v", got.Refused)
			}
		})
	}
	if config.Source(def) != config.EmbeddedSource || config.Source(parse("", fileA)) != config.EmbeddedSource || config.Source(parse("/etc/outpost/site.yaml", fileA)) != "/etc/outpost/site.yaml" {
		t.Fatal("Source")
	}
}
