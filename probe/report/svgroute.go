package report

import (
	"cmp"
	"math"
	"slices"
)

// endpoint is one end of an arrow on a side of a box.
type endpoint struct {
	a    *arrow
	from bool
	key  float64 // sort key along the side
	idx  int     // arrow index, to break ties the same way at both ends
}

// attach picks the sides arrows leave and enter by, and spreads the
// endpoints along each side, ordered by where the other end lies so that
// arrows do not cross at the box.
func (l *layout) attach() {
	type slot struct {
		n *node
		s side
	}
	ends := map[slot][]endpoint{}
	var order []slot
	add := func(n *node, s side, e endpoint) {
		k := slot{n, s}
		if _, ok := ends[k]; !ok {
			order = append(order, k)
		}
		ends[k] = append(ends[k], e)
	}
	for i, a := range l.arrows {
		switch {
		case a.from.zone < a.to.zone:
			a.fromSide, a.toSide = sideRight, sideLeft
		case a.from.zone > a.to.zone:
			a.fromSide, a.toSide = sideLeft, sideRight
		case absInt(a.from.row-a.to.row) == 1 && a.from.row < a.to.row:
			a.fromSide, a.toSide = sideBottom, sideTop
		case absInt(a.from.row-a.to.row) == 1:
			a.fromSide, a.toSide = sideTop, sideBottom
		default: // same zone, not neighbours: around the right-hand side
			a.fromSide, a.toSide = sideRight, sideRight
		}
		fromKey, toKey := a.to.center().y, a.from.center().y
		if a.fromSide == sideTop || a.fromSide == sideBottom {
			fromKey, toKey = a.to.center().x, a.from.center().x
		}
		if a.long {
			fromKey, toKey = a.lane, a.lane
		}
		add(a.from, a.fromSide, endpoint{a: a, from: true, key: fromKey, idx: i})
		add(a.to, a.toSide, endpoint{a: a, from: false, key: toKey, idx: i})
	}
	for _, k := range order {
		es := ends[k]
		slices.SortStableFunc(es, func(x, y endpoint) int {
			if c := cmp.Compare(x.key, y.key); c != 0 {
				return c
			}
			return cmp.Compare(x.idx, y.idx)
		})
		b := k.n.box
		for i, e := range es {
			f := float64(i+1) / float64(len(es)+1)
			var p point
			switch k.s {
			case sideLeft:
				p = point{b.x, b.y + 14 + (b.h-28)*f}
			case sideRight:
				p = point{b.x + b.w, b.y + 14 + (b.h-28)*f}
			case sideTop:
				p = point{b.x + 40 + (b.w-80)*f, b.y}
			case sideBottom:
				p = point{b.x + 40 + (b.w-80)*f, b.y + b.h}
			}
			if e.from {
				e.a.p0 = p
			} else {
				e.a.p1 = p
			}
		}
	}
}

// route turns each arrow into cubic Bézier segments: an S-curve between
// neighbouring zones, S-curve + corridor line + S-curve across a zone,
// a straight line between neighbours of one zone, and a bulge around the
// right-hand side between other servers of one zone.
func (l *layout) route() {
	for _, a := range l.arrows {
		p0, p1 := a.p0, a.p1
		switch {
		case a.long:
			var xIn, xOut float64
			if a.from.zone < a.to.zone {
				xIn, xOut = l.zones[a.from.zone+1].box.x, l.zones[a.to.zone-1].box.x+zoneW
			} else {
				xIn, xOut = l.zones[a.from.zone-1].box.x+zoneW, l.zones[a.to.zone+1].box.x
			}
			in, out := point{xIn, a.lane}, point{xOut, a.lane}
			a.segs = [][4]point{sCurve(p0, in), line(in, out), sCurve(out, p1)}
		case a.from.zone != a.to.zone:
			a.segs = [][4]point{sCurve(p0, p1)}
		case a.fromSide == sideRight && a.toSide == sideRight:
			bulge := 50.0
			a.segs = [][4]point{{p0, {p0.x + bulge, p0.y}, {p1.x + bulge, p1.y}, p1}}
		default:
			a.segs = [][4]point{line(p0, p1)}
		}
	}
}

func sCurve(p, q point) [4]point {
	dx := (q.x - p.x) / 2
	return [4]point{p, {p.x + dx, p.y}, {q.x - dx, q.y}, q}
}

func line(p, q point) [4]point {
	return [4]point{p, {p.x + (q.x-p.x)/3, p.y + (q.y-p.y)/3}, {p.x + 2*(q.x-p.x)/3, p.y + 2*(q.y-p.y)/3}, q}
}

func bezier(s [4]point, t float64) point {
	u := 1 - t
	a, b, c, d := u*u*u, 3*u*u*t, 3*u*t*t, t*t*t
	return point{
		a*s[0].x + b*s[1].x + c*s[2].x + d*s[3].x,
		a*s[0].y + b*s[1].y + c*s[2].y + d*s[3].y,
	}
}

// placeLabels puts each label on its arrow where it overlaps neither a
// server nor a label placed before it (the least overlap when nowhere is
// free). Corridor labels go first: they have the most room.
func (l *layout) placeLabels() {
	var placed []rect
	for _, n := range l.order {
		b := n.box
		placed = append(placed, rect{b.x - 4, b.y - 4, b.w + 8, b.h + 8})
	}
	arrows := slices.Clone(l.arrows)
	slices.SortStableFunc(arrows, func(a, b *arrow) int {
		switch {
		case a.long == b.long:
			return 0
		case a.long:
			return -1
		}
		return 1
	})
	for _, a := range arrows {
		w, h := labelWidth(a.labelLines), labelHeight(a.labelLines)
		var pts []point
		side := a.fromSide == sideRight && a.toSide == sideRight
		switch {
		case a.long:
			for _, t := range []float64{0.5, 0.3, 0.7, 0.15, 0.85} {
				pts = append(pts, bezier(a.segs[1], t))
			}
		default:
			for _, t := range []float64{0.5, 0.42, 0.58, 0.34, 0.66, 0.27, 0.73, 0.2, 0.8} {
				pts = append(pts, bezier(a.segs[0], t))
			}
		}
		// On the arrow first, then beside it: above, below, left, right.
		var cands []rect
		for _, p := range pts {
			if side { // beside the bulge, outside it
				cands = append(cands, rect{p.x + 6, p.y - h/2, w, h})
				continue
			}
			cands = append(cands, rect{p.x - w/2, p.y - h/2, w, h})
		}
		if !side {
			for _, p := range pts {
				cands = append(cands,
					rect{p.x - w/2, p.y - h - 5, w, h}, rect{p.x - w/2, p.y + 5, w, h},
					rect{p.x - w - 6, p.y - h/2, w, h}, rect{p.x + 6, p.y - h/2, w, h})
			}
		}
		best, bestScore := cands[0], math.Inf(1)
		for _, c := range cands {
			score := 0.0
			for _, p := range placed {
				score += c.overlap(p)
			}
			if score < bestScore {
				best, bestScore = c, score
			}
			if score == 0 {
				break
			}
		}
		a.label = best
		placed = append(placed, rect{best.x - 3, best.y - 3, best.w + 6, best.h + 6})
	}
}
