package report

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

// The picture's geometry, in SVG user units (pixels at 100 %).
const (
	svgMargin    = 30.0
	svgTitleH    = 78.0  // title and subtitle
	zoneW        = 290.0 // a zone column
	zoneGap      = 250.0 // between zone columns: where most arrows and labels go
	zoneHeadH    = 46.0  // zone name and subnet
	zonePad      = 28.0  // inside a zone, below its heading and at its bottom
	serverW      = 210.0
	serverH      = 84.0
	rowGap       = 96.0 // between server boxes of a zone
	sideRoom     = 190.0
	legendH      = 96.0
	charW        = 6.6 // 11 px monospace
	lineH        = 14.0
	labelPadX    = 6.0
	labelPadY    = 4.0
	maxLabelLine = 30 // characters
)

// point and rect are plain geometry.
type point struct{ x, y float64 }

type rect struct{ x, y, w, h float64 }

func (r rect) overlap(o rect) float64 {
	w := math.Min(r.x+r.w, o.x+o.w) - math.Max(r.x, o.x)
	h := math.Min(r.y+r.h, o.y+o.h) - math.Max(r.y, o.y)
	if w <= 0 || h <= 0 {
		return 0
	}
	return w * h
}

// node is a server placed in the picture.
type node struct {
	s    *topology.Server
	zone int // column
	row  int
	box  rect
}

func (n *node) center() point { return point{n.box.x + n.box.w/2, n.box.y + n.box.h/2} }

// token is one port of an arrow's label.
type token struct {
	text string
	pass bool
}

// side of a box an arrow attaches to.
type side int

const (
	sideLeft side = iota
	sideRight
	sideTop
	sideBottom
)

// arrow aggregates the drawn flows of one source -> destination pair and
// kind (documented flows, or closed flows that answered).
type arrow struct {
	from, to *node
	both     bool // double-headed: the same unrestricted flows both ways
	exposure bool // closed flows that were not closed
	fail     bool
	tokens   []token
	flows    int
	tooltip  []string // one line per flow: "id: outcome (expect)"

	// geometry
	fromSide, toSide side
	p0, p1           point // attachment points
	lane             float64
	long             bool // crosses a zone: routed through the top corridor
	segs             [][4]point
	label            rect
	labelLines       [][]token
}

// layout is the whole picture.
type layout struct {
	zones   []zoneCol
	nodes   map[string]*node
	order   []*node // topology order
	arrows  []*arrow
	width   float64
	height  float64
	hidden  int // closed flows that passed (not drawn)
	corrTop float64
}

type zoneCol struct {
	name, desc, subnet string
	box                rect
}

// zoneOrder puts internet, perimeter and internal first (left to right),
// then the topology's other zones, then zones only servers name.
func zoneOrder(t *topology.Topology) []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	present := map[string]bool{}
	for _, s := range t.Servers {
		present[s.Zone] = true
	}
	for _, z := range []string{"internet", "perimeter", "internal"} {
		if present[z] {
			add(z)
		}
	}
	for _, z := range t.Zones {
		if present[z.Name] {
			add(z.Name)
		}
	}
	for _, s := range t.Servers {
		add(s.Zone)
	}
	return names
}

func buildLayout(t *topology.Topology, results []probe.Result) *layout {
	l := &layout{nodes: map[string]*node{}}
	names := zoneOrder(t)
	rows := 1
	perZone := make([][]*node, len(names))
	for i := range t.Servers {
		s := &t.Servers[i]
		z := slices.Index(names, s.Zone)
		n := &node{s: s, zone: z, row: len(perZone[z])}
		perZone[z] = append(perZone[z], n)
		l.nodes[strings.ToUpper(s.Name)] = n
		l.order = append(l.order, n)
		rows = max(rows, len(perZone[z]))
	}
	l.arrows, l.hidden = collectArrows(l.nodes, results)

	// Lanes of the top corridor, for arrows that skip a zone.
	var longs []*arrow
	for _, a := range l.arrows {
		if a.from.zone != a.to.zone && absInt(a.from.zone-a.to.zone) > 1 {
			a.long = true
			longs = append(longs, a)
		}
	}
	for _, a := range l.arrows {
		a.labelLines = wrapTokens(a.tokens)
	}
	corridor := 0.0
	for _, a := range longs {
		corridor += labelHeight(a.labelLines) + 12
	}
	if corridor > 0 {
		corridor += 10
	}

	top := svgMargin + svgTitleH
	l.corrTop = top + zoneHeadH
	serversTop := top + zoneHeadH + corridor + zonePad
	colH := float64(rows)*serverH + float64(rows-1)*rowGap
	zoneH := zoneHeadH + corridor + zonePad + colH + zonePad
	for i, name := range names {
		x := svgMargin + float64(i)*(zoneW+zoneGap)
		zc := zoneCol{name: name, box: rect{x, top, zoneW, zoneH}}
		for _, z := range t.Zones {
			if z.Name == name {
				zc.desc, zc.subnet = z.Description, z.Subnet
			}
		}
		l.zones = append(l.zones, zc)
		// Center a short column against the tallest one.
		n := len(perZone[i])
		off := (colH - (float64(n)*serverH + float64(n-1)*rowGap)) / 2
		for _, nd := range perZone[i] {
			nd.box = rect{x + (zoneW-serverW)/2, serversTop + off + float64(nd.row)*(serverH+rowGap), serverW, serverH}
		}
	}
	l.width = svgMargin*2 + float64(len(names))*zoneW + float64(len(names)-1)*zoneGap + sideRoom
	l.height = top + zoneH + 24 + legendH + svgMargin

	// Long arrows get corridor lanes, upper lanes for the upper destinations.
	slices.SortStableFunc(longs, func(a, b *arrow) int {
		return cmp.Compare(math.Min(a.from.box.y, a.to.box.y), math.Min(b.from.box.y, b.to.box.y))
	})
	y := l.corrTop + 8
	for _, a := range longs {
		h := labelHeight(a.labelLines) + 12
		a.lane = y + h/2
		y += h
	}
	l.attach()
	l.route()
	l.placeLabels()
	return l
}

// collectArrows groups the drawn results by pair and kind. Closed flows that
// passed are not drawn (they are the firewall doing its job); their number
// is returned.
func collectArrows(nodes map[string]*node, results []probe.Result) ([]*arrow, int) {
	type key struct {
		from, to string
		exposure bool
	}
	var order []key
	by := map[key][]probe.Result{}
	hidden := 0
	for _, r := range results {
		f := r.Flow
		if nodes[strings.ToUpper(f.Source)] == nil || nodes[strings.ToUpper(f.Dest)] == nil {
			continue
		}
		exposure := f.Expect == probe.ExpectClosed
		if exposure && r.Pass {
			hidden++
			continue
		}
		k := key{strings.ToUpper(f.Source), strings.ToUpper(f.Dest), exposure}
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		by[k] = append(by[k], r)
	}
	var out []*arrow
	merged := map[key]bool{}
	for _, k := range order {
		if merged[k] {
			continue
		}
		rs := by[k]
		a := &arrow{from: nodes[k.from], to: nodes[k.to], exposure: k.exposure, flows: len(rs), tooltip: tooltip(rs)}
		rev := key{k.to, k.from, k.exposure}
		if back, ok := by[rev]; ok && !k.exposure && unrestrictedPass(rs) && unrestrictedPass(back) {
			a.both = true
			merged[rev] = true
			a.flows += len(back)
			a.tooltip = append(a.tooltip, tooltip(back)...)
			a.tokens = []token{{text: "unrestricted (" + strconv.Itoa(a.flows) + " ports sampled)", pass: true}}
			out = append(out, a)
			continue
		}
		a.tokens = portTokens(rs)
		for _, r := range rs {
			a.fail = a.fail || !r.Pass
		}
		if unrestrictedOnly(rs) {
			a.tokens = unrestrictedTokens(a.tokens)
		}
		out = append(out, a)
	}
	return out, hidden
}

func tooltip(rs []probe.Result) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, verdict(r)+" "+r.Flow.ID+": "+outcome(r)+" (expect "+string(r.Flow.Expect)+")")
	}
	return out
}

// unrestrictedPass reports whether rs are passing unrestricted flows only.
func unrestrictedPass(rs []probe.Result) bool {
	for _, r := range rs {
		if r.Flow.Expect != probe.ExpectUnrestricted || !r.Pass {
			return false
		}
	}
	return true
}

func unrestrictedOnly(rs []probe.Result) bool {
	for _, r := range rs {
		if r.Flow.Expect != probe.ExpectUnrestricted {
			return false
		}
	}
	return true
}

// unrestrictedTokens shortens the label of the ground rule's sample of
// ports: the failing ports, then how many passed.
func unrestrictedTokens(ts []token) []token {
	var out []token
	ok := 0
	for _, t := range ts {
		if t.pass {
			ok++
		} else {
			out = append(out, t)
		}
	}
	switch {
	case len(out) == 0:
		return []token{{text: "unrestricted (" + strconv.Itoa(ok) + " ports sampled)", pass: true}}
	case ok > 0:
		out = append(out, token{text: "+" + strconv.Itoa(ok) + " ok", pass: true})
	}
	return out
}

// portTokens labels ports: "25", "53/udp" (and "53/tcp" beside it); a
// port fails when any flow on it failed.
func portTokens(rs []probe.Result) []token {
	type pk struct {
		port      int
		transport string
	}
	var order []pk
	pass := map[pk]bool{}
	udp := map[int]bool{}
	for _, r := range rs {
		// The documented port: what an engineer looks for in the seed.
		k := pk{r.Flow.BasePort, r.Flow.Transport}
		if _, ok := pass[k]; !ok {
			order = append(order, k)
			pass[k] = true
		}
		pass[k] = pass[k] && r.Pass
		if k.transport == "udp" {
			udp[k.port] = true
		}
	}
	out := make([]token, 0, len(order))
	for _, k := range order {
		text := strconv.Itoa(k.port)
		if k.transport == "udp" || udp[k.port] {
			text += "/" + k.transport
		}
		out = append(out, token{text: text, pass: pass[k]})
	}
	return out
}

// wrapTokens breaks a label into lines of at most maxLabelLine characters.
func wrapTokens(ts []token) [][]token {
	var lines [][]token
	var cur []token
	n := 0
	for _, t := range ts {
		w := len(t.text) + 2
		if len(cur) > 0 && n+w > maxLabelLine {
			lines = append(lines, cur)
			cur, n = nil, 0
		}
		cur = append(cur, t)
		n += w
	}
	if len(cur) > 0 {
		lines = append(lines, cur)
	}
	return lines
}

func lineChars(line []token) int {
	n := 0
	for i, t := range line {
		if i > 0 {
			n += 2 // ", "
		}
		n += len(t.text)
	}
	return n
}

func labelWidth(lines [][]token) float64 {
	w := 0
	for _, l := range lines {
		w = max(w, lineChars(l))
	}
	return float64(w)*charW + 2*labelPadX
}

func labelHeight(lines [][]token) float64 {
	return float64(len(lines))*lineH + 2*labelPadY
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
