package lab

import (
	"fmt"
	"slices"
	"strings"
)

// A user's ruleset file is mapped back to its lines by reading it as the
// kernel will: which chains it declares, in which table, and each chain's
// rules in order. The kernel lists the rules of a chain in the same order
// (`nft -a -j list ruleset`), so the n-th rule of a chain there is the
// n-th rule statement of that chain here. The reader is deliberately
// tolerant: it understands enough nft syntax to find tables, chains,
// rules and the commands that add, insert, flush or delete them, and
// leaves every expression as text.

// Origin is where a rule (or a chain's policy) came from: the file, the
// 1-based line and the rule's text as written.
type Origin struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Text string `json:"text"`
}

// String is "file:line: text" (the file's base name).
func (o Origin) String() string {
	if o.Line == 0 {
		return o.File + ": " + o.Text
	}
	return fmt.Sprintf("%s:%d: %s", baseName(o.File), o.Line, o.Text)
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// ChainRef names a chain as nftables does.
type ChainRef struct {
	Family, Table, Chain string
}

func (c ChainRef) String() string { return c.Family + " " + c.Table + " " + c.Chain }

// ChainSource is what a file says about one chain.
type ChainSource struct {
	// Decl is the line that declares the chain (or its policy, when the
	// file sets one): what a verdict of the chain's policy points at.
	Decl   Origin
	Hook   string
	Policy string
	Rules  []Origin
	// Unordered is set when the file places rules by handle or index,
	// which this reader does not follow.
	Unordered bool
}

// SourceMap is what a ruleset file declares, chain by chain.
type SourceMap struct {
	File   string
	Chains map[ChainRef]*ChainSource
	// Order lists the chains in the order the file declares them.
	Order []ChainRef
}

func newSourceMap(file string) *SourceMap {
	return &SourceMap{File: file, Chains: map[ChainRef]*ChainSource{}}
}

func (m *SourceMap) chain(ref ChainRef, decl Origin) *ChainSource {
	c := m.Chains[ref]
	if c == nil {
		c = &ChainSource{Decl: decl}
		m.Chains[ref] = c
		m.Order = append(m.Order, ref)
	}
	return c
}

func (m *SourceMap) drop(keep func(ChainRef) bool, rulesOnly bool) {
	for ref, c := range m.Chains {
		if keep(ref) {
			continue
		}
		if rulesOnly {
			c.Rules = nil
			continue
		}
		delete(m.Chains, ref)
		m.Order = slices.DeleteFunc(m.Order, func(r ChainRef) bool { return r == ref })
	}
}

// nftStmt is one statement of an nft file: its text with whitespace
// collapsed, the line it starts on, and whether it opens a block ("{").
type nftStmt struct {
	text  string
	line  int
	open  bool
	close bool
}

// splitNft cuts nft text into statements: newlines and ";" end one
// (outside quotes and anonymous sets), "\" at a line's end continues it,
// "#" starts a comment, "{" opens a block when opens says so for the
// statement before it (a table, a chain) and is part of the expression
// otherwise (an anonymous set or map).
func splitNft(text string, opens func(stmt string) bool, handle func(nftStmt) error) error {
	var cur strings.Builder
	line, start, depth := 1, 0, 0
	inQuote := false
	var err error
	emit := func(open bool) {
		s := strings.Join(strings.Fields(cur.String()), " ")
		if (s != "" || open) && err == nil {
			err = handle(nftStmt{text: s, line: start, open: open})
		}
		cur.Reset()
		start = 0
	}
	add := func(c byte) {
		if start == 0 && c != ' ' && c != '\t' && c != '\r' {
			start = line
		}
		cur.WriteByte(c)
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		if inQuote {
			if c == '\n' {
				line++
			}
			add(c)
			if c == '"' {
				inQuote = false
			}
			continue
		}
		switch c {
		case '"':
			inQuote = true
			add(c)
		case '#':
			for i+1 < len(text) && text[i+1] != '\n' {
				i++
			}
		case '\\':
			j := i + 1
			for j < len(text) && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r') {
				j++
			}
			if j < len(text) && text[j] == '\n' {
				i = j
				line++
				cur.WriteByte(' ')
				continue
			}
			add(c)
		case '\n', ';':
			if c == '\n' {
				line++
			}
			if depth > 0 {
				cur.WriteByte(' ')
				continue
			}
			emit(false)
		case '{':
			if depth == 0 && opens(strings.TrimSpace(cur.String())) {
				if start == 0 {
					start = line
				}
				emit(true)
				continue
			}
			depth++
			add(c)
		case '}':
			if depth > 0 {
				depth--
				add(c)
				continue
			}
			emit(false)
			if err == nil {
				err = handle(nftStmt{line: line, close: true})
			}
		default:
			add(c)
		}
		if err != nil {
			return err
		}
	}
	emit(false)
	return err
}

var nftFamilies = []string{"ip", "ip6", "inet", "arp", "bridge", "netdev"}

// tableWords reads "[family] name" at the start of words.
func tableWords(words []string) (family, name string, rest []string) {
	if len(words) >= 2 && slices.Contains(nftFamilies, words[0]) {
		return words[0], words[1], words[2:]
	}
	if len(words) >= 1 {
		return "ip", words[0], words[1:]
	}
	return "", "", nil
}

// nftBlock is an open block of the file: a table, a chain, or one whose
// contents do not matter here (a set, a map, a flowtable...).
type nftBlock struct {
	kind  string // "table", "chain", "skip"
	chain ChainRef
}

// ParseNft reads an nft ruleset file. It fails on `include` (the rules
// would be in another file) and on braces that do not balance.
func ParseNft(file string, text []byte) (*SourceMap, error) {
	m := newSourceMap(file)
	lines := strings.Split(string(text), "\n")
	var stack []nftBlock
	top := func() string {
		if len(stack) == 0 {
			return "top"
		}
		return stack[len(stack)-1].kind
	}
	opens := func(stmt string) bool {
		w := strings.Fields(stmt)
		if len(w) == 0 {
			return false
		}
		switch top() {
		case "table":
			return true
		case "top":
			if w[0] == "table" {
				return true
			}
			return (w[0] == "add" || w[0] == "create") && len(w) > 1 && w[1] != "rule" && w[1] != "element"
		}
		return false
	}
	err := splitNft(string(text), opens, func(st nftStmt) error {
		origin := Origin{File: file, Line: st.line, Text: st.text}
		w := strings.Fields(st.text)
		if st.close {
			if len(stack) == 0 {
				return fmt.Errorf("%s:%d: a '}' closes no block", file, st.line)
			}
			stack = stack[:len(stack)-1]
			return nil
		}
		var table ChainRef
		if len(stack) > 0 {
			table = stack[len(stack)-1].chain
		}
		switch top() {
		case "skip":
			if st.open {
				stack = append(stack, nftBlock{kind: "skip"})
			}
			return nil
		case "chain":
			c := m.chain(table, origin)
			switch {
			case len(w) > 0 && w[0] == "type":
				if i := slices.Index(w, "hook"); i >= 0 && i+1 < len(w) {
					c.Hook = w[i+1]
				}
			case len(w) > 1 && w[0] == "policy":
				c.Policy = w[1]
				c.Decl = origin
				if st.line <= len(lines) {
					c.Decl.Text = strings.TrimSpace(lines[st.line-1])
				}
			case len(w) > 0 && slices.Contains([]string{"comment", "devices", "device", "flags"}, w[0]):
			case len(w) > 0:
				c.Rules = append(c.Rules, origin)
			}
			if st.open {
				stack = append(stack, nftBlock{kind: "skip"})
			}
			return nil
		case "table":
			if len(w) >= 2 && w[0] == "chain" {
				ref := ChainRef{table.Family, table.Table, w[1]}
				m.chain(ref, origin)
				if st.open {
					stack = append(stack, nftBlock{kind: "chain", chain: ref})
				}
			} else if st.open {
				stack = append(stack, nftBlock{kind: "skip"})
			}
			return nil
		}
		// Top level: a table block or a command.
		if len(w) == 0 {
			if st.open {
				return fmt.Errorf("%s:%d: a '{' that opens nothing", file, st.line)
			}
			return nil
		}
		if w[0] == "include" {
			return fmt.Errorf("%s:%d: include is not supported: lab diff maps each rule to a line of the file it is given; put the included rules into %s itself", file, st.line, baseName(file))
		}
		verb := w[0]
		obj := w
		switch verb {
		case "add", "create", "insert", "replace", "delete", "destroy", "flush":
			obj = w[1:]
		case "table", "chain", "rule":
			verb = "add"
		default: // define, list, reset, monitor...
			if st.open {
				stack = append(stack, nftBlock{kind: "skip"})
			}
			return nil
		}
		if len(obj) == 0 {
			return nil
		}
		kind := obj[0]
		fam, tbl, rest := tableWords(obj[1:])
		switch {
		case kind == "ruleset" && verb == "flush":
			m.drop(func(ChainRef) bool { return false }, false)
		case kind == "table" && (verb == "delete" || verb == "destroy"):
			m.drop(func(r ChainRef) bool { return r.Family != fam || r.Table != tbl }, false)
		case kind == "table" && verb == "flush":
			m.drop(func(r ChainRef) bool { return r.Family != fam || r.Table != tbl }, true)
		case kind == "table":
			if st.open {
				stack = append(stack, nftBlock{kind: "table", chain: ChainRef{Family: fam, Table: tbl}})
			}
			return nil
		case kind == "chain" && len(rest) > 0:
			ref := ChainRef{fam, tbl, rest[0]}
			switch verb {
			case "delete", "destroy":
				m.drop(func(r ChainRef) bool { return r != ref }, false)
			case "flush":
				m.drop(func(r ChainRef) bool { return r != ref }, true)
			default:
				m.chain(ref, origin)
				if st.open {
					stack = append(stack, nftBlock{kind: "chain", chain: ref})
					return nil
				}
			}
		case kind == "rule" && len(rest) > 0 && (verb == "add" || verb == "insert" || verb == "create"):
			ref := ChainRef{fam, tbl, rest[0]}
			c := m.chain(ref, Origin{File: file, Line: st.line, Text: "chain " + ref.Chain})
			body := rest[1:]
			if len(body) > 1 && (body[0] == "position" || body[0] == "index" || body[0] == "handle") {
				c.Unordered = true
				body = body[2:]
			}
			r := Origin{File: file, Line: st.line, Text: strings.Join(body, " ")}
			if verb == "insert" {
				c.Rules = append([]Origin{r}, c.Rules...)
			} else {
				c.Rules = append(c.Rules, r)
			}
		case kind == "rule":
			// delete/replace rule ... handle N: the reader cannot follow it.
			if len(rest) > 0 {
				if c := m.Chains[ChainRef{fam, tbl, rest[0]}]; c != nil {
					c.Unordered = true
				}
			}
		}
		if st.open {
			stack = append(stack, nftBlock{kind: "skip"})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("%s: a '{' is never closed (the file ends inside a %s)", file, stack[len(stack)-1].kind)
	}
	return m, nil
}
