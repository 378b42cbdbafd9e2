package appliance

import (
	"bytes"
	"fmt"

	"outpost/appliance/config"
)

// CheckEdit is a check as the UI's form edits it (config.CheckEdit).
type CheckEdit = config.CheckEdit

// ErrConfigInvalid wraps the config errors of an edit that was refused.
var ErrConfigInvalid = config.ErrEditInvalid

// EditableSections are the top-level config sections the web UI edits as
// YAML text.
var EditableSections = config.EditableSections

// EditCheck replaces check orig (or adds one when orig is empty) in the
// running config, validates the whole result exactly like a config file,
// and applies it as a new config version. Comments and the order of the
// rest of the file are kept.
func (a *Appliance) EditCheck(orig string, e CheckEdit, who string) error {
	return a.editConfig(who, func(raw []byte) ([]byte, error) { return config.EditCheck(raw, orig, e) })
}

// DeleteCheck removes a check from the running config.
func (a *Appliance) DeleteCheck(id, who string) error {
	return a.editConfig(who, func(raw []byte) ([]byte, error) { return config.DeleteCheck(raw, id) })
}

// EditSection replaces one top-level section with text (YAML), validates
// the whole config like a file and applies it as a new version. An empty
// text removes the section.
func (a *Appliance) EditSection(name, text, who string) error {
	if !config.IsEditableSection(name) {
		return fmt.Errorf("section %q cannot be edited here", name)
	}
	return a.editConfig(who, func(raw []byte) ([]byte, error) { return config.ReplaceSection(raw, name, text) })
}

// ConfigYAML returns the config in force, as YAML.
func (a *Appliance) ConfigYAML() []byte { return bytes.Clone(a.Config().Raw) }

// CheckForm returns a configured check as the UI's form shows it.
func (a *Appliance) CheckForm(id string) (CheckEdit, bool) {
	return config.CheckFormOf(a.Config().Raw, id)
}

// SectionYAML returns one top-level section of the running config as YAML
// ("" when the config does not have it).
func (a *Appliance) SectionYAML(name string) string { return config.SectionOf(a.Config().Raw, name) }

// editConfig applies edit to the running config's text, validates the
// result exactly like a config file and applies it as a new version.
func (a *Appliance) editConfig(who string, edit func(raw []byte) ([]byte, error)) error {
	a.editMu.Lock()
	defer a.editMu.Unlock()
	cur := a.Config()
	raw, err := edit(cur.Raw)
	if err != nil {
		return err
	}
	cfg, err := config.ParseEdited(cur.File, raw)
	if err != nil {
		return err
	}
	return a.applySource(cfg, "web UI by "+who)
}
