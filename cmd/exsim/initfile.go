package main

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/exsim/exsim/topology"
)

// initFile writes topology t as the lab.yaml of `exsim init`: every key of
// the topology, each with its comment (topologyDocs). Keys t sets are
// written as they are; a key it leaves unset is written commented out with
// an example, so the file decodes to t again and a user can see, and
// uncomment, everything a topology can say. header opens the file.
func initFile(t *topology.Topology, header string) ([]byte, error) {
	var b bytes.Buffer
	for _, l := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		b.WriteString(strings.TrimRight("# "+l, " ") + "\n")
	}
	b.WriteString("\n")
	w := &docWriter{b: &b, seen: map[string]bool{}, err: new(error)}
	w.fields("", reflect.ValueOf(t).Elem(), 0)
	if *w.err != nil {
		return nil, *w.err
	}
	return b.Bytes(), nil
}

// docWriter writes YAML with comments, each key's comment once, where the
// key first appears (seen); err keeps the first failure.
type docWriter struct {
	b    *bytes.Buffer
	seen map[string]bool
	err  *error
}

// to is a writer into b that shares w's comments and error.
func (w *docWriter) to(b *bytes.Buffer) *docWriter {
	return &docWriter{b: b, seen: w.seen, err: w.err}
}

// fields writes the fields of struct v at indent; path is v's key path.
func (w *docWriter) fields(path string, v reflect.Value, indent int) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" || !f.IsExported() {
			continue
		}
		p := key
		if path != "" {
			p = path + "." + key
		}
		d, ok := topologyDocs[p]
		if !ok {
			w.fail(fmt.Errorf("init: no comment for topology key %s", p))
		}
		if !w.seen[p] && (!unset(v.Field(i)) || d.example != nil) {
			w.seen[p] = true
			w.comment(indent, d.doc)
		}
		w.key(p, key, v.Field(i), d, indent)
	}
}

// key writes one key: its value, or, when it is unset, its example
// commented out.
func (w *docWriter) key(path, key string, v reflect.Value, d keyDoc, indent int) {
	pad := strings.Repeat(" ", indent)
	if unset(v) {
		if d.example == nil {
			return
		}
		var ex bytes.Buffer
		w.to(&ex).value(path, key, reflect.ValueOf(d.example), 0)
		for _, l := range strings.Split(strings.TrimRight(ex.String(), "\n"), "\n") {
			w.b.WriteString(pad + "# " + l + "\n")
		}
		return
	}
	w.value(path, key, v, indent)
}

// value writes key and its value v at indent.
func (w *docWriter) value(path, key string, v reflect.Value, indent int) {
	pad := strings.Repeat(" ", indent)
	for v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		v = v.Elem()
	}
	switch {
	case v.Kind() == reflect.Struct:
		w.b.WriteString(pad + key + ":\n")
		w.fields(path, v, indent+2)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		w.b.WriteString(pad + key + ":\n")
		for i := range v.Len() {
			var el bytes.Buffer
			w.to(&el).fields(path, v.Index(i), 0)
			w.element(indent+2, el.String())
		}
	default:
		w.b.WriteString(pad + key + ": " + w.flow(v.Interface()) + "\n")
	}
}

// element writes one list element: the first key line behind "- " at
// indent, the comments before it at indent, the rest under it.
func (w *docWriter) element(indent int, lines string) {
	pad, dash := strings.Repeat(" ", indent), false
	for _, l := range strings.Split(strings.TrimRight(lines, "\n"), "\n") {
		switch {
		case dash:
			w.b.WriteString(pad + "  " + l + "\n")
		case strings.HasPrefix(l, "#"):
			w.b.WriteString(pad + l + "\n")
		default:
			w.b.WriteString(pad + "- " + l + "\n")
			dash = true
		}
	}
}

// flow writes a value on one line: a scalar, [a, b] or {k: v}.
func (w *docWriter) flow(v any) string {
	b, err := yaml.MarshalWithOptions(v, yaml.Flow(true))
	if err != nil {
		w.fail(err)
	}
	return strings.TrimSpace(string(b))
}

func (w *docWriter) comment(indent int, doc string) {
	for _, l := range strings.Split(doc, "\n") {
		w.b.WriteString(strings.Repeat(" ", indent) + "# " + l + "\n")
	}
}

func (w *docWriter) fail(err error) {
	if *w.err == nil {
		*w.err = err
	}
}

// unset reports whether a key is left out of the file: an empty string,
// list or map, a zero number, a nil pointer, or a struct with every key
// unset. A bool is always written: false is a choice, and the file says it.
func unset(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Bool:
		return false
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && !unset(v.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}
