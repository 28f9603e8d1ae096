package wbxml

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits of Decode: deeper or larger documents are refused, not parsed.
const (
	MaxDepth = 64
)

// ErrEmpty is returned for an empty body: several ActiveSync commands
// (Ping, Sync) are valid with no body at all.
var ErrEmpty = errors.New("wbxml: empty document")

// Decode parses a WBXML document into its root element. The string
// table (STR_T) and character entities are accepted although ActiveSync
// clients do not send them; attributes, processing instructions,
// extensions, a charset other than UTF-8 and unknown tags are errors.
func Decode(b []byte) (*Node, error) {
	if len(b) == 0 {
		return nil, ErrEmpty
	}
	d := &decoder{b: b}
	if err := d.header(); err != nil {
		return nil, err
	}
	root, err := d.element(0)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, d.errf("no root element")
	}
	if d.i != len(d.b) {
		return nil, d.errf("%d bytes after the root element", len(d.b)-d.i)
	}
	return root, nil
}

type decoder struct {
	b      []byte
	i      int
	page   byte
	strtbl []byte
}

func (d *decoder) errf(format string, args ...any) error {
	return fmt.Errorf("wbxml: offset %d: %s", d.i, fmt.Sprintf(format, args...))
}

func (d *decoder) byte() (byte, error) {
	if d.i >= len(d.b) {
		return 0, d.errf("unexpected end of document")
	}
	c := d.b[d.i]
	d.i++
	return c, nil
}

// mbUint reads a multi-byte unsigned integer of at most 32 bits.
func (d *decoder) mbUint() (uint32, error) {
	var v uint32
	for n := 0; n < 5; n++ {
		c, err := d.byte()
		if err != nil {
			return 0, err
		}
		if v > 1<<25-1 {
			return 0, d.errf("integer overflows 32 bits")
		}
		v = v<<7 | uint32(c&0x7f)
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, d.errf("integer longer than 5 bytes")
}

func (d *decoder) header() error {
	if _, err := d.byte(); err != nil { // version: 1.1-1.3 all parse alike
		return err
	}
	pub, err := d.mbUint()
	if err != nil {
		return err
	}
	if pub == 0 { // the public identifier is a string table index
		if _, err := d.mbUint(); err != nil {
			return err
		}
	}
	cs, err := d.mbUint()
	if err != nil {
		return err
	}
	if cs != 0x6A && cs != 0 { // UTF-8 (IANA MIBenum 106), or unknown
		return d.errf("charset %d is not UTF-8", cs)
	}
	n, err := d.mbUint()
	if err != nil {
		return err
	}
	if int(n) > len(d.b)-d.i {
		return d.errf("string table longer than the document")
	}
	d.strtbl = d.b[d.i : d.i+int(n)]
	d.i += int(n)
	return nil
}

// element reads one element (after any SWITCH_PAGE tokens); nil at an
// END token, which the caller consumes as its own end.
func (d *decoder) element(depth int) (*Node, error) {
	if depth > MaxDepth {
		return nil, d.errf("elements nested deeper than %d", MaxDepth)
	}
	for {
		c, err := d.byte()
		if err != nil {
			return nil, err
		}
		switch c {
		case tokSwitchPage:
			p, err := d.byte()
			if err != nil {
				return nil, err
			}
			if int(p) >= len(codePages) {
				return nil, d.errf("unknown code page %d", p)
			}
			d.page = p
			continue
		case tokEnd:
			return nil, nil
		}
		if c&0x3f == tokLiteral {
			return nil, d.errf("literal tag names (LITERAL) are not used by ActiveSync")
		}
		if c&tagAttrs != 0 {
			return nil, d.errf("attributes (token 0x%02x) are not used by ActiveSync", c)
		}
		tag := tagName(d.page, c&0x3f)
		if tag == "" {
			return nil, d.errf("unknown tag 0x%02x on code page %d (%s)", c&0x3f, d.page, codePages[d.page].name)
		}
		n := &Node{Page: codePages[d.page].name, Tag: tag}
		if c&tagContent != 0 {
			if err := d.content(n, depth); err != nil {
				return nil, err
			}
		}
		return n, nil
	}
}

// content reads an element's content up to and including its END.
func (d *decoder) content(n *Node, depth int) error {
	var text strings.Builder
	hasText := false
	for {
		if d.i >= len(d.b) {
			return d.errf("element %s not closed", n.Name())
		}
		switch d.b[d.i] {
		case tokStrI:
			d.i++
			end := bytes.IndexByte(d.b[d.i:], 0)
			if end < 0 {
				return d.errf("unterminated string in %s", n.Name())
			}
			text.Write(d.b[d.i : d.i+end])
			d.i += end + 1
			hasText = true
			continue
		case tokStrT, tokEntity, tokOpaque:
			tok := d.b[d.i]
			d.i++
			v, err := d.mbUint()
			if err != nil {
				return err
			}
			if err := d.valued(n, tok, v, &text); err != nil {
				return err
			}
			hasText = hasText || tok != tokOpaque
			continue
		}
		c, err := d.element(depth + 1)
		if err != nil {
			return err
		}
		if c == nil { // END of n
			break
		}
		n.Children = append(n.Children, c)
	}
	if hasText {
		n.Text = text.String()
		if !utf8.ValidString(n.Text) {
			return d.errf("text of %s is not UTF-8", n.Name())
		}
	}
	if (hasText || n.Opaque != nil) && len(n.Children) > 0 {
		return d.errf("element %s mixes text and elements", n.Name())
	}
	return nil
}

// valued reads what follows a STR_T (a string table offset), ENTITY (a
// character) or OPAQUE (a length) token whose integer is v.
func (d *decoder) valued(n *Node, tok byte, v uint32, text *strings.Builder) error {
	switch tok {
	case tokStrT:
		if int(v) >= len(d.strtbl) {
			return d.errf("string table reference %d out of range", v)
		}
		s := d.strtbl[v:]
		if end := bytes.IndexByte(s, 0); end >= 0 {
			s = s[:end]
		}
		text.Write(s)
	case tokEntity:
		if v == 0 || v > utf8.MaxRune {
			return d.errf("entity %d is not a character", v)
		}
		text.WriteRune(rune(v))
	default:
		if int(v) > len(d.b)-d.i {
			return d.errf("opaque data of %d bytes runs past the end", v)
		}
		n.Opaque = make([]byte, v)
		d.i += copy(n.Opaque, d.b[d.i:])
	}
	return nil
}
