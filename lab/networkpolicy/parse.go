package networkpolicy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	networkingv1 "k8s.io/api/networking/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Policy is one NetworkPolicy document of a file, with where it came from.
type Policy struct {
	// File is the name errors and origins use (the path as given, or its
	// base name: see ParseFile).
	File string
	// Line is the line of the document's first key.
	Line   int
	Object networkingv1.NetworkPolicy
	// lines maps a key path of the document ("spec.ingress[0].ports[1]")
	// to the line of that key or item.
	lines map[string]int
}

// Name is namespace/name, as kubectl prints it.
func (p *Policy) Name() string { return p.Object.Namespace + "/" + p.Object.Name }

// LineOf returns the line of the key or sequence item at path
// ("spec.ingress[0]", "spec.podSelector"); when the document has no such
// key, the line of its nearest parent that it has; else (a policy not
// parsed from a file) the policy's line.
func (p *Policy) LineOf(path string) int {
	for path != "" {
		if l, ok := p.lines[path]; ok {
			return l
		}
		// A key that is missing: the line of its parent.
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return p.Line
}

// Error is a problem of a policy file at a place: file, line and key path.
type Error struct {
	File string
	Line int
	// Path is the key ("spec.ingress[0].ports[0].port"); empty when the
	// problem is the document itself.
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Path, e.Msg)
}

// errAt is an error at path of policy p.
func (p *Policy) errAt(path, format string, args ...any) *Error {
	return &Error{File: p.File, Line: p.LineOf(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

// ParseFile reads and parses a policy file; errors and origins name it by
// the path as given.
func ParseFile(path string) ([]Policy, []string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("networkpolicy: %w", err)
	}
	return Parse(filepath.Clean(path), b)
}

const (
	apiVersion = "networking.k8s.io/v1"
	kind       = "NetworkPolicy"
)

// Parse decodes the NetworkPolicy documents of a multi-document YAML file
// named file. Decoding is strict: unknown and duplicate keys, wrong types,
// documents of another kind or apiVersion, and policies exsim cannot
// translate (named ports, a missing namespace...) are errors naming the
// file, the line and the key. Namespace documents are skipped with a note
// (the second result): exsim's namespaces are its zones and their labels
// are fixed. Empty documents are skipped silently.
func Parse(file string, data []byte) ([]Policy, []string, error) {
	var (
		pols  []Policy
		notes []string
		errs  []error
	)
	for _, doc := range splitDocuments(data) {
		p, note, err := parseDocument(file, doc)
		switch {
		case err != nil:
			errs = append(errs, err)
		case note != "":
			notes = append(notes, note)
		case p != nil:
			pols = append(pols, *p)
		}
	}
	if len(errs) > 0 {
		return nil, notes, errors.Join(errs...)
	}
	return pols, notes, nil
}

// splitDocuments cuts a YAML stream at its "---" and "..." lines. Each
// document keeps its lines where they were in the file (the lines before
// it are blank), so the YAML parsers' line numbers are the file's.
func splitDocuments(data []byte) [][]byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	var docs [][]byte
	start := 0
	flush := func(end int) {
		var b bytes.Buffer
		for range start {
			b.WriteByte('\n')
		}
		for _, l := range lines[start:end] {
			b.Write(l)
		}
		docs = append(docs, b.Bytes())
	}
	for i, l := range lines {
		switch {
		case isMarker(l, "---"):
			flush(i)
			// "--- {inline: document}": keep what follows the marker.
			lines[i] = append([]byte("   "), l[3:]...)
			start = i
		case isMarker(l, "..."):
			flush(i)
			lines[i] = []byte("\n")
			start = i
		}
	}
	flush(len(lines))
	return docs
}

func isMarker(line []byte, m string) bool {
	if !bytes.HasPrefix(line, []byte(m)) {
		return false
	}
	rest := line[len(m):]
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r'
}

var (
	yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)
	typeErrRE  = regexp.MustCompile(`cannot unmarshal (.*) into Go struct field [^.]*\.(\S+) of type (\S+)`)
)

// parseDocument parses one document; it returns a policy, or a note for a
// skipped document, or neither for an empty one.
func parseDocument(file string, doc []byte) (*Policy, string, error) {
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(doc, &root); err != nil {
		return nil, "", yamlError(file, firstLine(doc), err)
	}
	if root.Kind == 0 || len(root.Content) == 0 || root.Content[0].Tag == "!!null" {
		return nil, "", nil
	}
	m := root.Content[0]
	p := &Policy{File: file, Line: m.Line, lines: map[string]int{}}
	if m.Kind != yamlv3.MappingNode {
		return nil, "", &Error{File: file, Line: m.Line, Msg: "a document must be a mapping (a Kubernetes object)"}
	}
	indexLines(m, "", p.lines)
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	// Strict: a key given twice is an error.
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, "", yamlError(file, p.Line, err)
	}
	// Errors here are type errors the strict decode below reports with a path.
	_ = kjson.UnmarshalCaseSensitivePreserveInts(j, &head)
	switch {
	case head.Kind == "Namespace" && head.APIVersion == "v1":
		return nil, fmt.Sprintf("%s:%d: Namespace %q skipped: exsim's namespaces are its zones, labelled %s and %s",
			file, p.Line, head.Metadata.Name, LabelNamespaceName, LabelZone), nil
	case head.Kind != kind || head.APIVersion != apiVersion:
		return nil, "", p.errAt("kind", "%s (apiVersion %q) is not a %s of %s; a policy file holds NetworkPolicies (and Namespace documents, which are skipped): exsim's pods are its servers",
			orNone(head.Kind), head.APIVersion, kind, apiVersion)
	}
	strict, err := kjson.UnmarshalStrict(j, &p.Object)
	if err != nil {
		if m := typeErrRE.FindStringSubmatch(err.Error()); m != nil {
			path, line := p.looseLine(m[2])
			return nil, "", &Error{File: file, Line: line, Path: path, Msg: fmt.Sprintf("%s is not a %s", m[1], m[3])}
		}
		return nil, "", &Error{File: file, Line: p.Line, Msg: err.Error()}
	}
	var errs []*Error
	for _, e := range strict {
		path, msg := e.Error(), e.Error()
		if fe, ok := e.(interface{ FieldPath() string }); ok {
			path = fe.FieldPath()
			msg, _, _ = strings.Cut(e.Error(), ` "`)
		}
		errs = append(errs, &Error{File: file, Line: p.LineOf(path), Path: path, Msg: msg})
	}
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		joined := make([]error, len(errs))
		for i, e := range errs {
			joined[i] = e
		}
		return nil, "", errors.Join(joined...)
	}
	if err := p.validate(); err != nil {
		return nil, "", err
	}
	return p, "", nil
}

// yamlError places a YAML parser's error ("yaml: line 8: ...") at its
// line, or, when it names none, at line (the document's).
func yamlError(file string, line int, err error) error {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: n, Msg: m[2]}
	}
	return &Error{File: file, Line: line, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
}

// firstLine is the line of the first non-blank line of a document (1 if
// it has none).
func firstLine(doc []byte) int {
	for i, l := range bytes.Split(doc, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			return i + 1
		}
	}
	return 1
}

func orNone(s string) string {
	if s == "" {
		return "a document without kind"
	}
	return s
}

// indexLines records the line of every key and sequence item under n.
func indexLines(n *yamlv3.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			lines[p] = k.Line
			indexLines(v, p, lines)
		}
	case yamlv3.SequenceNode:
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			lines[p] = c.Line
			indexLines(c, p, lines)
		}
	}
	// An alias is not followed: what it names has the lines of its anchor,
	// keys under it report the alias's line, and a document of nested
	// aliases ("billion laughs") cannot make this walk explode.
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// looseLine finds the first key of a path given without sequence indexes
// (as encoding/json's type errors give it: spec.ingress.ports.port) and
// returns it with its indexes, and its line.
func (p *Policy) looseLine(path string) (string, int) {
	best, line := path, 0
	for k, l := range p.lines {
		if indexRE.ReplaceAllString(k, "") == path && (line == 0 || l < line || (l == line && len(k) < len(best))) {
			best, line = k, l
		}
	}
	if line == 0 {
		return path, p.Line
	}
	return best, line
}
