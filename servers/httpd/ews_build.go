package httpd

import (
	"encoding/xml"
	"strconv"
)

// el is one element of an EWS response. Responses are built as trees of
// el: an EWS response has dozens of optional elements whose presence the
// request's shape decides, which struct tags say poorly.
type el struct {
	XMLName xml.Name
	Attr    []xml.Attr `xml:",attr"`
	Text    string     `xml:",chardata"`
	Kids    []any
}

// E is an element with children (nil children are left out).
func E(name string, kids ...*el) *el {
	e := &el{XMLName: xml.Name{Local: name}}
	for _, k := range kids {
		e.add(k)
	}
	return e
}

// T is an element holding text.
func T(name, text string) *el { return &el{XMLName: xml.Name{Local: name}, Text: text} }

// A sets an attribute.
func (e *el) A(name, value string) *el {
	e.Attr = append(e.Attr, xml.Attr{Name: xml.Name{Local: name}, Value: value})
	return e
}

func (e *el) add(k *el) *el {
	if k != nil {
		e.Kids = append(e.Kids, k)
	}
	return e
}

func tBool(name string, v bool) *el { return T(name, strconv.FormatBool(v)) }
func tInt(name string, v int64) *el { return T(name, strconv.FormatInt(v, 10)) }

// opResponse is <m:{op}Response> with its ResponseMessages.
func opResponse(op string, msgs []*el) *el {
	rm := E("m:ResponseMessages")
	for _, m := range msgs {
		rm.add(m)
	}
	return E("m:"+op+"Response", rm).A("xmlns:m", nsMessages).A("xmlns:t", nsTypes)
}

// respMsg is one <m:{op}ResponseMessage>: the status, then body.
func respMsg(op string, rm responseMessage, body ...*el) *el {
	m := E("m:"+op+"ResponseMessage").A("ResponseClass", rm.Class)
	if rm.MessageText != "" {
		m.add(T("m:MessageText", rm.MessageText))
	}
	m.add(T("m:ResponseCode", rm.ResponseCode))
	if rm.LinkKey != nil {
		m.add(tInt("m:DescriptiveLinkKey", int64(*rm.LinkKey)))
	}
	for _, b := range body {
		m.add(b)
	}
	return m
}
