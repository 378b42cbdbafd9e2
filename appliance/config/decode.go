package config

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"outpost/checks"
)

// Error is one problem in a config file, located by file, line and field
// path, e.g. `site.yaml:14: checks[3].interval: "5x" is not a duration`.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
	return es
}

// decoder turns yaml nodes into Go values strictly: unknown fields, wrong
// types and bad durations are reported with line and field path, and
// decoding goes on so that one run shows every problem.
type decoder struct {
	file string
	errs Errors
	// sections are the feature-owned top-level sections the root may
	// have, decoded into sectionValues; sectionNodes remembers where.
	sections      map[string]checks.Section
	sectionValues map[string]any
	sectionNodes  map[string]*yaml.Node
}

func (d *decoder) fail(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	nodeType     = reflect.TypeOf(yaml.Node{})
	optionsType  = reflect.TypeOf((*checks.Options)(nil)).Elem()
	textType     = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
	yamlType     = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if v.Type() == optionsType {
		// Kind-specific settings: decoded later by the kind, strictly.
		v.Set(reflect.ValueOf(nodeOptions{file: d.file, path: path, node: n}))
		return
	}
	if v.Kind() == reflect.Pointer {
		if n.Tag == "!!null" {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if n.Tag == "!!null" && n.Kind == yaml.ScalarNode {
		return
	}
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(yamlType) {
		// A type with a shape of its own (a string or a list): its
		// error is located here.
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.fail(n, path, "%v", err)
		}
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(textType) {
		if !d.scalar(n, path, "a string") {
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(n, path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.strct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "expected a mapping, got %s", describe(n))
			return
		}
		if v.Type().Key().Kind() != reflect.String {
			d.fail(n, path, "internal: map keys must be strings")
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			e := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, e, join(path, k.Value))
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.String:
		if d.scalar(n, path, "a string") {
			v.SetString(n.Value)
		}
	case reflect.Bool:
		if !d.scalar(n, path, "true or false") {
			return
		}
		b, err := strconv.ParseBool(n.Value)
		if err != nil {
			d.fail(n, path, "%q is not true or false", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if !d.scalar(n, path, "a whole number") {
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, v.Type().Bits())
		if err != nil {
			d.fail(n, path, "%q is not a whole number", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if !d.scalar(n, path, "a whole number") {
			return
		}
		u, err := strconv.ParseUint(n.Value, 0, v.Type().Bits())
		if err != nil {
			d.fail(n, path, "%q is not a non-negative whole number", n.Value)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		if !d.scalar(n, path, "a number") {
			return
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || math.IsNaN(f) {
			d.fail(n, path, "%q is not a number", n.Value)
			return
		}
		v.SetFloat(f)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(n, path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.fail(n, path, "internal: cannot decode into %s", v.Type())
	}
}

func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected %s, got %s", want, describe(n))
		return false
	}
	return true
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if !d.scalar(n, path, "a duration") {
		return
	}
	dur, err := ParseDuration(n.Value)
	if err != nil {
		d.fail(n, path, "%q is not a duration (e.g. 30s, 5m, 2h, 7d)", n.Value)
		return
	}
	if dur < 0 {
		d.fail(n, path, "%q is negative: durations count forward (e.g. 30s, 5m, 2h, 7d)", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

// ParseDuration is time.ParseDuration plus a "d" (day) unit, since
// retention and backup checks are naturally counted in days.
func ParseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		days, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		// Written as "not in range" so that NaN ("NaNd") fails too.
		if err != nil || !(days >= 0 && days <= 100*365) {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

func (d *decoder) strct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	fields := map[string][]int{}
	var names []string
	collectFields(v.Type(), nil, fields, &names)
	root := path == "" && d.sections != nil
	if root {
		for k := range d.sections {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fp := join(path, k.Value)
		if _, ok := d.sections[k.Value]; root && ok {
			if d.sectionNodes[k.Value] != nil {
				d.fail(k, fp, "given twice")
				continue
			}
			d.sectionNodes[k.Value] = val
			d.decode(val, reflect.ValueOf(d.sectionValues[k.Value]).Elem(), fp)
			continue
		}
		idx, ok := fields[k.Value]
		if !ok {
			if len(names) == 0 {
				d.fail(k, fp, "unknown field (%s takes no fields)", orRoot(path))
			} else {
				d.fail(k, fp, "unknown field (expected one of %s)", strings.Join(names, ", "))
			}
			continue
		}
		if seen[k.Value] {
			d.fail(k, fp, "given twice")
			continue
		}
		seen[k.Value] = true
		d.decode(val, v.FieldByIndex(idx), fp)
	}
}

// collectFields maps yaml names to field index paths; embedded structs
// without a yaml name contribute their fields inline.
func collectFields(t reflect.Type, prefix []int, fields map[string][]int, names *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		idx := append(append([]int(nil), prefix...), i)
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			collectFields(f.Type, idx, fields, names)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = idx
		*names = append(*names, name)
	}
}

func orRoot(path string) string {
	if path == "" {
		return "the config"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// nodeOptions implements checks.Options over a check's `options:` node.
type nodeOptions struct {
	file string
	path string
	node *yaml.Node
}

var _ checks.Locator = nodeOptions{}

// Locate places a constructor's error about these options: a
// *checks.FieldError at the options' line under their path, errors the
// decoder located as they are.
func (o nodeOptions) Locate(err error) error {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	line := 0
	if o.node != nil {
		line = o.node.Line
	}
	var fe *checks.FieldError
	if errors.As(err, &fe) {
		return Errors{{File: o.file, Line: line, Field: o.path + "." + fe.Field, Msg: fe.Msg}}
	}
	return Errors{{File: o.file, Line: line, Field: o.path, Msg: err.Error()}}
}

// Decode decodes the options strictly into v (a pointer to a struct).
func (o nodeOptions) Decode(v any) error {
	if o.node == nil {
		return nil
	}
	d := &decoder{file: o.file}
	d.decode(o.node, reflect.ValueOf(v).Elem(), o.path)
	if len(d.errs) > 0 {
		return d.errs
	}
	return nil
}
