package checks

import "outpost/checks/registry"

// A feature package (notify, healing) owns its top-level config section:
// its type, defaults and validation. It registers the section here, as
// Prometheus' discovery mechanisms register their config types, and the
// config package decodes every registered section strictly into the
// registered type without importing the feature.

// Section is one registered top-level config section.
type Section struct {
	// Key is the section's top-level YAML key.
	Key string
	// New returns a pointer to a zero value of the section's type, which
	// the config decodes the section into (strict: unknown fields are
	// errors).
	New func() any
	// Check applies the section's defaults to the decoded value and
	// validates it against the rest of the site. Errors (errors.Join for
	// several) are *FieldError with Field relative to the section, or
	// errors already located (Locate).
	Check func(v any, site Site) error
}

// Site is what a section's Check may consult of the rest of the config:
// the devices and agents, and the checks with their remediations.
type Site interface {
	Env
	// Specs are the configured checks, built-in ones included, in order.
	Specs() []Spec
}

// Sections gives the parsed sections of a config by key (config.Config).
type Sections interface {
	Section(key string) any
}

var sections = registry.New[Section]("config section")

// SectionKey names a registered section and the type it decodes into.
type SectionKey[T any] struct{ key string }

// RegisterSection registers the top-level section key, decoded into a T
// and then given to check with the site; the returned key reads it back
// from a parsed config. A key registered twice panics.
func RegisterSection[T any](key string, check func(v *T, site Site) error) SectionKey[T] {
	sections.Add(key, Section{Key: key, New: func() any { return new(T) },
		Check: func(v any, site Site) error { return check(v.(*T), site) }})
	return SectionKey[T]{key}
}

// RegisteredSections lists the registered sections, by key.
func RegisteredSections() []Section { return sections.All() }

// Of returns the section as parsed in s. A config that does not have it
// (one built by hand, in a test) gives the section's defaults.
func (k SectionKey[T]) Of(s Sections) *T {
	if s != nil {
		if v, ok := s.Section(k.key).(*T); ok && v != nil {
			return v
		}
	}
	v := new(T)
	if sec, ok := sections.Get(k.key); ok {
		sec.Check(v, noSite{}) // only the defaults matter here
	}
	return v
}

// noSite is a site with nothing configured.
type noSite struct{}

func (noSite) Device(string) *Device { return nil }
func (noSite) Agent(string) *Agent   { return nil }
func (noSite) Specs() []Spec         { return nil }

// Locator is implemented by Options that know where they are in the
// config file.
type Locator interface {
	// Locate places err, a constructor's *FieldError (Field relative to
	// these options) or any other error about them, at the options'
	// file, line and field path. Errors already located pass unchanged.
	Locate(err error) error
}

// Locate is opts.Locate(err) for Options that are a Locator, else err.
func Locate(opts Options, err error) error {
	if l, ok := opts.(Locator); ok {
		return l.Locate(err)
	}
	return err
}
