package report

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

const (
	colGreen = "#2e7d32"
	colRed   = "#c62828"
	colText  = "#1f2933"
	colMuted = "#5f6b7a"
	fontSans = "Segoe UI, Helvetica Neue, Arial, Liberation Sans, sans-serif"
	fontMono = "Consolas, DejaVu Sans Mono, Liberation Mono, monospace"
)

var zoneColors = map[string][2]string{ // fill, stroke
	"internet":  {"#edf3fb", "#9db4d6"},
	"perimeter": {"#fff5e6", "#e2b36e"},
	"internal":  {"#eef7ee", "#98c49a"},
}

var roleStyle = map[topology.Role][2]string{ // colour, caption
	topology.RoleEdge:     {"#d97b00", "Edge Transport"},
	topology.RoleMailbox:  {"#0a64ad", "Mailbox"},
	topology.RoleDNS:      {"#6a5acd", "DNS server"},
	topology.RoleInternet: {"#607d8b", "Internet mail host"},
}

// WriteSVG draws the topology like the seed's diagrams: the zones as
// labelled columns (internet, perimeter, internal, left to right), each
// server as a box with its name, role, FQDN and address, and one arrow per
// source -> destination pair labelled with its ports: green when every flow
// on it passed, red when one failed (the failing ports in red). Closed
// flows that answered (the firewall lets through what it must not) are red
// dashed arrows. Closed flows that passed are not drawn: they are the
// firewall doing its job, and drawing them would bury the documented
// flows; the subtitle counts them. Unrestricted flows between internal
// servers that all passed become one double-headed arrow.
func WriteSVG(w io.Writer, t *topology.Topology, results []probe.Result) error {
	if t == nil {
		return errors.New("report: svg needs the topology")
	}
	l := buildLayout(t, results)
	b := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="%s">`+"\n",
		num(l.width), num(l.height), num(l.width), num(l.height), fontSans)
	p("<title>%s</title>\n", esc(title(t)))
	p("<defs>\n")
	for _, m := range []struct{ id, color string }{{"ok", colGreen}, {"bad", colRed}} {
		p(`<marker id="head-%s" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>`+"\n", m.id, m.color)
	}
	p("</defs>\n")
	p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")

	s := probe.Summarize(results)
	p(`<text x="%s" y="%s" font-size="22" font-weight="600" fill="%s">%s</text>`+"\n", num(svgMargin), num(svgMargin+22), colText, esc(title(t)))
	sub := summaryLine(s)
	if l.hidden > 0 {
		sub += fmt.Sprintf(" · %d closed flows verified closed (not drawn)", l.hidden)
	}
	subColor := colGreen
	if s.Failed > 0 {
		subColor = colRed
	}
	p(`<text x="%s" y="%s" font-size="14" fill="%s" font-weight="600">%s</text>`+"\n", num(svgMargin), num(svgMargin+46), subColor, esc(sub))

	for _, z := range l.zones {
		drawZone(p, z)
	}
	for _, n := range l.order {
		drawServer(p, n)
	}
	for _, a := range l.arrows {
		drawArrow(p, a)
	}
	for _, a := range l.arrows {
		drawLabel(p, a)
	}
	drawLegend(p, l)
	p("</svg>\n")
	return b.Flush()
}

func title(t *topology.Topology) string {
	name := t.Organization
	if name == "" {
		name = t.DefaultDomain()
	}
	return "exsim probe: " + name + " network flows"
}

func drawZone(p func(string, ...any), z zoneCol) {
	c, ok := zoneColors[z.name]
	if !ok {
		c = [2]string{"#f4f5f7", "#b8c0cc"}
	}
	r := z.box
	p(`<rect x="%s" y="%s" width="%s" height="%s" rx="14" fill="%s" stroke="%s" stroke-width="1.5"/>`+"\n",
		num(r.x), num(r.y), num(r.w), num(r.h), c[0], c[1])
	p(`<text x="%s" y="%s" font-size="15" font-weight="700" letter-spacing="1.5" fill="%s">%s</text>`+"\n",
		num(r.x+16), num(r.y+26), colText, esc(strings.ToUpper(z.name)))
	caption := z.desc
	if z.subnet != "" {
		caption = strings.TrimSpace(caption + "  " + z.subnet)
	}
	if caption != "" {
		p(`<text x="%s" y="%s" font-size="11" fill="%s">%s</text>`+"\n", num(r.x+16), num(r.y+41), colMuted, esc(caption))
	}
}

func drawServer(p func(string, ...any), n *node) {
	st, ok := roleStyle[n.s.Role]
	if !ok {
		st = [2]string{"#607d8b", string(n.s.Role)}
	}
	caption := st[1]
	switch {
	case n.s.Role == topology.RoleEdge && n.s.Edge != nil && n.s.Edge.Subscribed:
		caption += " · subscribed"
	case n.s.Role == topology.RoleMailbox && n.s.Mailbox != nil && n.s.Mailbox.EdgeSync:
		caption += " · EdgeSync"
	}
	b := n.box
	p(`<rect x="%s" y="%s" width="%s" height="%s" rx="8" fill="#000000" fill-opacity="0.10"/>`+"\n",
		num(b.x+1.5), num(b.y+2.5), num(b.w), num(b.h))
	p(`<rect x="%s" y="%s" width="%s" height="%s" rx="8" fill="#ffffff" stroke="%s" stroke-width="1.5"/>`+"\n",
		num(b.x), num(b.y), num(b.w), num(b.h), st[0])
	p(`<rect x="%s" y="%s" width="6" height="%s" rx="3" fill="%s"/>`+"\n", num(b.x), num(b.y), num(b.h), st[0])
	x := b.x + 18
	p(`<text x="%s" y="%s" font-size="16" font-weight="700" fill="%s">%s</text>`+"\n", num(x), num(b.y+23), colText, esc(n.s.Name))
	p(`<text x="%s" y="%s" font-size="11.5" font-weight="600" fill="%s">%s</text>`+"\n", num(x), num(b.y+41), st[0], esc(caption))
	p(`<text x="%s" y="%s" font-size="11" fill="%s">%s</text>`+"\n", num(x), num(b.y+58), colMuted, esc(n.s.FQDN))
	p(`<text x="%s" y="%s" font-size="11" font-family="%s" fill="%s">%s</text>`+"\n", num(x), num(b.y+74), fontMono, colMuted, esc(n.s.Address))
}

func drawArrow(p func(string, ...any), a *arrow) {
	color, head := colGreen, "ok"
	if a.fail {
		color, head = colRed, "bad"
	}
	var d strings.Builder
	for i, s := range a.segs {
		if i == 0 {
			d.WriteString("M" + num(s[0].x) + "," + num(s[0].y))
		}
		d.WriteString(" C" + num(s[1].x) + "," + num(s[1].y) + " " + num(s[2].x) + "," + num(s[2].y) + " " + num(s[3].x) + "," + num(s[3].y))
	}
	extra := ""
	if a.exposure {
		extra = ` stroke-dasharray="7 5"`
	}
	if a.both {
		extra += fmt.Sprintf(` marker-start="url(#head-%s)"`, head)
	}
	p(`<path d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linecap="round"%s marker-end="url(#head-%s)"><title>%s</title></path>`+"\n",
		d.String(), color, extra, head, esc(strings.Join(a.tooltip, "\n")))
}

func drawLabel(p func(string, ...any), a *arrow) {
	border := colGreen
	if a.fail {
		border = colRed
	}
	r := a.label
	dash := ""
	if a.exposure {
		dash = ` stroke-dasharray="3 2"`
	}
	p(`<rect x="%s" y="%s" width="%s" height="%s" rx="4" fill="#ffffff" fill-opacity="0.95" stroke="%s" stroke-width="1"%s/>`+"\n",
		num(r.x), num(r.y), num(r.w), num(r.h), border, dash)
	for i, ln := range a.labelLines {
		y := r.y + labelPadY + float64(i)*lineH + 11
		p(`<text x="%s" y="%s" font-size="11" font-family="%s" xml:space="preserve">`, num(r.x+labelPadX), num(y), fontMono)
		for j, tk := range ln {
			sep := ""
			if j > 0 {
				sep = ", "
			}
			if tk.pass {
				p(`<tspan fill="%s">%s</tspan>`, colGreen, esc(sep+tk.text))
			} else {
				p(`<tspan fill="%s">%s</tspan><tspan fill="%s" font-weight="700">%s</tspan>`, colMuted, esc(sep), colRed, esc(tk.text))
			}
		}
		p("</text>\n")
	}
}

func drawLegend(p func(string, ...any), l *layout) {
	y := l.height - svgMargin - legendH + 24
	x := svgMargin
	p(`<text x="%s" y="%s" font-size="13" font-weight="700" fill="%s">Legend</text>`+"\n", num(x), num(y), colText)
	items := []struct {
		color, dash, text string
	}{
		{colGreen, "", "documented flow works (every port on the arrow passed)"},
		{colRed, "", "documented flow broken: the red ports failed (refused, filtered, wrong peer, TLS or STARTTLS tampered)"},
		{colRed, "7 5", "must be closed, but answers: the firewall lets it through"},
	}
	for i, it := range items {
		yy := y + 22 + float64(i)*20
		dash := ""
		if it.dash != "" {
			dash = ` stroke-dasharray="` + it.dash + `"`
		}
		head := "ok"
		if it.color == colRed {
			head = "bad"
		}
		p(`<path d="M%s,%s L%s,%s" stroke="%s" stroke-width="2"%s marker-end="url(#head-%s)"/>`+"\n", num(x), num(yy-4), num(x+46), num(yy-4), it.color, dash, head)
		p(`<text x="%s" y="%s" font-size="12" fill="%s">%s</text>`+"\n", num(x+60), num(yy), colText, esc(it.text))
	}
	note := "Labels list destination ports (TCP unless marked /udp). Closed flows that stayed closed are not drawn. A double-headed arrow: unrestricted traffic both ways (ground rules)."
	p(`<text x="%s" y="%s" font-size="11" fill="%s">%s</text>`+"\n", num(x), num(y+22+3*20), colMuted, esc(note))
}

// num formats a coordinate compactly.
func num(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// esc escapes text for XML character data and attribute values.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
