package topology

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Error is a problem in a topology file: the file, the line and the key.
type Error struct {
	File   string
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Key    string // YAML path, e.g. servers[1].address
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Load reads, decodes and validates the topology file at path.
func Load(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	return Parse(path, data)
}

// maxFileSize bounds what Parse reads: a lab description is small.
const maxFileSize = 4 << 20

// Parse decodes data strictly (unknown keys and duplicate keys are errors),
// applies defaults and validates. name is used in error messages.
func Parse(name string, data []byte) (*Topology, error) {
	if len(data) > maxFileSize {
		return nil, Errors{{File: name, Msg: fmt.Sprintf("file is %d bytes; a topology is at most %d", len(data), maxFileSize)}}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, Errors{{File: name, Msg: "file is empty; run `exsim init` for a starting point"}}
	}
	if e := rejectTags(name, data); e != nil {
		return nil, Errors{e}
	}
	var t Topology
	if err := unmarshal(data, &t); err != nil {
		return nil, Errors{decodeError(name, err)}
	}
	t.applyDefaults()
	if errs := t.validate(); len(errs) > 0 {
		locate(name, data, errs)
		return nil, errs
	}
	return &t, nil
}

// unmarshal decodes strictly. go-yaml (v1.19.2) panics on some malformed
// documents; such a panic is an error of the file like any other.
func unmarshal(data []byte, t *Topology) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot decode the file: %v", r)
		}
	}()
	return yaml.UnmarshalWithOptions(data, t, yaml.Strict(), yaml.DisallowUnknownField())
}

// rejectTags refuses YAML tags (!x): a topology has no use for them, and
// go-yaml mis-decodes some (a tag on a list is a nil dereference).
func rejectTags(name string, data []byte) *Error {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil // the decoder reports it with its position
	}
	var found *ast.TagNode
	for _, doc := range file.Docs {
		if found == nil && doc != nil {
			ast.Walk(tagFinder{&found}, doc)
		}
	}
	if found == nil {
		return nil
	}
	e := &Error{File: name, Msg: "YAML tags (" + found.Start.Value + ") are not part of a topology; write the plain value"}
	if found.Start.Position != nil {
		e.Line, e.Column = found.Start.Position.Line, found.Start.Position.Column
	}
	return e
}

type tagFinder struct{ found **ast.TagNode }

func (f tagFinder) Visit(n ast.Node) ast.Visitor {
	if tn, ok := n.(*ast.TagNode); ok && *f.found == nil && tn.Start != nil {
		*f.found = tn
		return nil
	}
	if *f.found != nil {
		return nil
	}
	return f
}

// decodeError turns go-yaml's error into one that names file, line and key.
func decodeError(name string, err error) *Error {
	e := &Error{File: name, Msg: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		e.Msg = ye.GetMessage()
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
		}
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		e.Msg = fmt.Sprintf("expected %s, found %s", kindWord(te.DstType), kindWord(te.SrcType))
		if tk := te.Token; tk != nil {
			e.Msg = fmt.Sprintf("%q: %s", tk.Value, e.Msg)
		}
	}
	var uf *yaml.UnknownFieldError
	if errors.As(err, &uf) {
		e.Msg = "unknown key " + strings.TrimSpace(strings.TrimPrefix(e.Msg, "unknown field ")) + " (`exsim init` writes a file with every key)"
	}
	return e
}

// kindWord says what a Go type is in YAML's words.
func kindWord(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return kindWord(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct, reflect.Interface:
		if t.Kind() == reflect.Map && t.Key().Kind() == reflect.Interface {
			return "a mapping"
		}
		if t.Kind() == reflect.Struct {
			return "a mapping of keys"
		}
		return "a mapping"
	}
	return t.String()
}

// locate fills in the line and column of each validation error by looking
// its key up in the document. A key that is missing points at its parent.
func locate(name string, data []byte, errs Errors) {
	file, err := parser.ParseBytes(data, 0)
	for _, e := range errs {
		e.File = name
		if err != nil || e.Key == "" {
			continue
		}
		if n := findNode(file, e.Key); n != nil {
			if tk := n.GetToken(); tk != nil && tk.Position != nil {
				e.Line, e.Column = tk.Position.Line, tk.Position.Column
			}
		}
	}
}

func findNode(file *ast.File, key string) ast.Node {
	for k := key; k != ""; k = parentKey(k) {
		p, err := yaml.PathString("$." + k)
		if err != nil {
			continue
		}
		if n, err := p.FilterFile(file); err == nil && n != nil {
			return n
		}
	}
	return nil
}

func parentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i <= 0 {
		return ""
	}
	return k[:i]
}

// Marshal renders the topology as YAML, as `exsim init` writes it.
func (t *Topology) Marshal() ([]byte, error) {
	return yaml.MarshalWithOptions(t, yaml.Indent(2), yaml.IndentSequence(true))
}
