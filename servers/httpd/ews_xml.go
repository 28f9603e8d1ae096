package httpd

import (
	"encoding/xml"
	"strings"
)

// xnode is one element of an EWS request body. EWS requests are deep and
// mostly optional; a small tree queried by local name reads them more
// plainly than a struct per operation.
type xnode struct {
	Name xml.Name
	Attr []xml.Attr
	Kids []*xnode
	Text string
}

// maxXMLDepth bounds the nesting a request may have (restrictions nest).
const maxXMLDepth = 64

// readNode decodes the element start (already read) and everything in it.
func readNode(d *xml.Decoder, start xml.StartElement) (*xnode, error) {
	root := &xnode{Name: start.Name, Attr: start.Attr}
	stack := []*xnode{root}
	var text strings.Builder
	for len(stack) > 0 {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxXMLDepth {
				return nil, errSchema{"The request is nested too deeply."}
			}
			n := &xnode{Name: t.Name, Attr: t.Attr}
			top.Kids = append(top.Kids, n)
			stack = append(stack, n)
			text.Reset()
		case xml.CharData:
			if len(top.Kids) == 0 {
				text.Write(t)
			}
		case xml.EndElement:
			if len(top.Kids) == 0 {
				top.Text = text.String()
			}
			text.Reset()
			stack = stack[:len(stack)-1]
		}
	}
	return root, nil
}

// child is the first child element named local, or nil.
func (n *xnode) child(local string) *xnode {
	if n == nil {
		return nil
	}
	for _, k := range n.Kids {
		if k.Name.Local == local {
			return k
		}
	}
	return nil
}

// path follows child names.
func (n *xnode) path(locals ...string) *xnode {
	for _, l := range locals {
		n = n.child(l)
	}
	return n
}

// all is every child element named local.
func (n *xnode) all(local string) []*xnode {
	if n == nil {
		return nil
	}
	var out []*xnode
	for _, k := range n.Kids {
		if k.Name.Local == local {
			out = append(out, k)
		}
	}
	return out
}

func (n *xnode) attr(local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// xsBool reads an xs:boolean: "true" or "1" (exchangelib sends 1).
func xsBool(s string) bool {
	s = strings.TrimSpace(s)
	return s == "true" || s == "1"
}

// text is the trimmed character data of the child named local.
func (n *xnode) text(local string) string {
	c := n.child(local)
	if c == nil {
		return ""
	}
	return strings.TrimSpace(c.Text)
}
