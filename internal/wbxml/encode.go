package wbxml

import (
	"bytes"
	"fmt"
	"strings"
)

// WBXML global tokens (WAP-192 section 7.1) and the header ActiveSync
// sends (MS-ASWBXML 2.1.2: version 1.3, unknown public identifier,
// UTF-8, empty string table).
const (
	tokSwitchPage = 0x00
	tokEnd        = 0x01
	tokEntity     = 0x02
	tokStrI       = 0x03
	tokLiteral    = 0x04
	tokStrT       = 0x83
	tokOpaque     = 0xC3
	tagContent    = 0x40 // the tag has content
	tagAttrs      = 0x80 // the tag has attributes: never in ActiveSync
)

var header = []byte{0x03, 0x01, 0x6A, 0x00}

// Encode writes n as a WBXML document. It fails on an element whose
// page or tag is not in MS-ASWBXML's code pages.
func Encode(n *Node) ([]byte, error) {
	e := encoder{page: 0}
	e.buf.Write(header)
	if err := e.node(n); err != nil {
		return nil, err
	}
	return e.buf.Bytes(), nil
}

type encoder struct {
	buf  bytes.Buffer
	page byte
}

func (e *encoder) node(n *Node) error {
	page, ok := pageOf[n.Page]
	if !ok {
		return fmt.Errorf("wbxml: unknown code page %q", n.Page)
	}
	tok, ok := tokens[tagKey{page, n.Tag}]
	if !ok {
		return fmt.Errorf("wbxml: no tag %s on code page %s", n.Tag, n.Page)
	}
	if page != e.page {
		e.buf.WriteByte(tokSwitchPage)
		e.buf.WriteByte(page)
		e.page = page
	}
	hasContent := n.Opaque != nil || len(n.Children) > 0 || n.Text != ""
	if !hasContent {
		e.buf.WriteByte(tok)
		return nil
	}
	e.buf.WriteByte(tok | tagContent)
	switch {
	case n.Opaque != nil:
		e.buf.WriteByte(tokOpaque)
		e.mbUint(uint32(len(n.Opaque)))
		e.buf.Write(n.Opaque)
	case len(n.Children) > 0:
		for _, c := range n.Children {
			if err := e.node(c); err != nil {
				return err
			}
		}
	default:
		if strings.IndexByte(n.Text, 0) >= 0 {
			return fmt.Errorf("wbxml: text of %s holds a NUL byte", n.Name())
		}
		e.buf.WriteByte(tokStrI)
		e.buf.WriteString(n.Text)
		e.buf.WriteByte(0)
	}
	e.buf.WriteByte(tokEnd)
	return nil
}

// mbUint writes a multi-byte unsigned integer (WAP-192 section 5.1).
func (e *encoder) mbUint(v uint32) {
	var tmp [5]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7f)
	for v >>= 7; v > 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7f) | 0x80
	}
	e.buf.Write(tmp[i:])
}
