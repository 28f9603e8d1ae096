// Package wbxml is Exchange ActiveSync's binary XML (MS-ASWBXML, after
// WAP-192 WBXML 1.3): the code pages of protocol versions 14.1 and 16.1,
// a tree of elements, and its encoding and decoding.
//
// An element is named "Page:Tag" with the code page's namespace
// ("AirSync:Sync", "Email:Subject"); its content is either child
// elements, a string (STR_I) or opaque bytes (OPAQUE), never a mix,
// which is all ActiveSync uses.
package wbxml

import (
	"fmt"
	"strings"
)

// Node is one element.
type Node struct {
	Page     string // code page namespace: AirSync, FolderHierarchy...
	Tag      string
	Children []*Node
	Text     string // STR_I content
	Opaque   []byte // OPAQUE content; nil when the element has none
}

// E builds an element named "Page:Tag" with children; nil children are
// skipped so optional elements can be written inline.
func E(name string, children ...*Node) *Node {
	page, tag := split(name)
	n := &Node{Page: page, Tag: tag}
	for _, c := range children {
		if c != nil {
			n.Children = append(n.Children, c)
		}
	}
	return n
}

// T builds an element named "Page:Tag" holding text. A tag with empty
// text is encoded as an element with content (an empty string), which
// ActiveSync distinguishes from an empty element only for a few tags.
func T(name, text string) *Node {
	n := E(name)
	n.Text = text
	return n
}

// O builds an element named "Page:Tag" holding opaque bytes.
func O(name string, data []byte) *Node {
	n := E(name)
	if data == nil {
		data = []byte{}
	}
	n.Opaque = data
	return n
}

// Add appends children (nil ones skipped) and returns n.
func (n *Node) Add(children ...*Node) *Node {
	for _, c := range children {
		if c != nil {
			n.Children = append(n.Children, c)
		}
	}
	return n
}

func split(name string) (page, tag string) {
	page, tag, ok := strings.Cut(name, ":")
	if !ok {
		panic("wbxml: element name without a code page: " + name)
	}
	return page, tag
}

// Name is "Page:Tag".
func (n *Node) Name() string { return n.Page + ":" + n.Tag }

// is reports whether n is named name: "Page:Tag", or "Tag" on any page.
func (n *Node) is(name string) bool {
	if page, tag, ok := strings.Cut(name, ":"); ok {
		return n.Page == page && n.Tag == tag
	}
	return n.Tag == name
}

// Child is the first child named name ("Page:Tag", or "Tag" on any
// page), nil when there is none. A nil n has no children.
func (n *Node) Child(name string) *Node {
	if found := n.find(name, 1); len(found) > 0 {
		return found[0]
	}
	return nil
}

// All is every child named name.
func (n *Node) All(name string) []*Node { return n.find(name, -1) }

// find is up to most children named name (-1: all of them).
func (n *Node) find(name string, most int) []*Node {
	var out []*Node
	for _, c := range n.Elements() {
		if len(out) == most {
			break
		}
		if c.is(name) {
			out = append(out, c)
		}
	}
	return out
}

// Elements are n's children; none for a nil n.
func (n *Node) Elements() []*Node {
	if n == nil {
		return nil
	}
	return n.Children
}

// Path follows a chain of child names from n; nil when a link is missing.
func (n *Node) Path(names ...string) *Node {
	for _, name := range names {
		n = n.Child(name)
	}
	return n
}

// Value is the text (or the opaque bytes as a string) of the child
// named name, "" when absent.
func (n *Node) Value(name string) string {
	c := n.Child(name)
	if c == nil {
		return ""
	}
	if c.Opaque != nil {
		return string(c.Opaque)
	}
	return c.Text
}

// Has reports whether n has a child named name.
func (n *Node) Has(name string) bool { return n.Child(name) != nil }

// XML renders n as indented XML with namespace prefixes as MS-ASCMD's
// examples write them (the root's page is the default namespace), for
// logs and golden files. Opaque content is shown as its length.
func (n *Node) XML() string {
	var b strings.Builder
	used := map[string]bool{}
	n.walk(func(c *Node) { used[c.Page] = true })
	b.WriteString("<" + n.Tag + ` xmlns="` + n.Page + `"`)
	for _, cp := range codePages {
		if used[cp.name] && cp.name != n.Page {
			fmt.Fprintf(&b, ` xmlns:%s="%s"`, strings.ToLower(cp.name), cp.name)
		}
	}
	n.writeXML(&b, n.Page, 0, true)
	return b.String()
}

func (n *Node) walk(fn func(*Node)) {
	fn(n)
	for _, c := range n.Children {
		c.walk(fn)
	}
}

func (n *Node) writeXML(b *strings.Builder, root string, depth int, opened bool) {
	name := n.Tag
	if n.Page != root {
		name = strings.ToLower(n.Page) + ":" + n.Tag
	}
	if !opened {
		b.WriteString(strings.Repeat("  ", depth) + "<" + name)
	}
	switch {
	case n.Opaque != nil:
		fmt.Fprintf(b, ">[%d opaque bytes]</%s>\n", len(n.Opaque), name)
	case len(n.Children) > 0:
		b.WriteString(">\n")
		for _, c := range n.Children {
			c.writeXML(b, root, depth+1, false)
		}
		b.WriteString(strings.Repeat("  ", depth) + "</" + name + ">\n")
	case n.Text != "":
		fmt.Fprintf(b, ">%s</%s>\n", xmlEscape(n.Text), name)
	default:
		b.WriteString("/>\n")
	}
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func xmlEscape(s string) string { return xmlEscaper.Replace(s) }
