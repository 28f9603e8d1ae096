package httpd

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FindItem: a folder's messages filtered by a Restriction, in a
// SortOrder, one IndexedPageItemView page at a time.

var ewsUnsupportedPath = errMessage("ErrorUnsupportedPathForQuery", "The property path isn't supported for the query.")

// errUnsupportedQuery is a restriction or sort exsim cannot evaluate.
var errUnsupportedQuery = errors.New("unsupported query")

// fieldValue is a message's value for a restriction or sort field: a
// string, a time, a number or a bool.
func fieldValue(mi *MessageInfo, uri string) (any, error) {
	switch strings.ToLower(uri) {
	case "item:subject", "message:conversationtopic":
		return mi.Subject, nil
	case "item:datetimereceived", "item:datetimesent", "item:datetimecreated", "item:lastmodifiedtime":
		return mi.Date, nil
	case "item:size":
		return mi.Size, nil
	case "message:isread":
		return mi.Read, nil
	case "message:from", "message:sender":
		return mi.From, nil
	case "item:displayto":
		return displayName(mi.To), nil
	case "item:itemclass":
		return "IPM.Note", nil
	}
	if v, ok := extValue(mi, "", uri); ok {
		return v, nil
	}
	return nil, errUnsupportedQuery
}

// constant converts a restriction's Constant Value to the field's type.
func constant(field any, v string) (any, error) {
	switch field.(type) {
	case time.Time:
		return time.Parse(time.RFC3339, v)
	case int64:
		return strconv.ParseInt(v, 10, 64)
	case bool:
		return strconv.ParseBool(v)
	}
	return v, nil
}

func compareValues(a, b any) int {
	switch x := a.(type) {
	case time.Time:
		return x.Compare(b.(time.Time))
	case int64:
		return cmp.Compare(x, b.(int64))
	case bool:
		y := b.(bool)
		if x == y {
			return 0
		}
		if !x {
			return -1
		}
		return 1
	case string:
		return strings.Compare(strings.ToLower(x), strings.ToLower(b.(string)))
	}
	return 0
}

func byDate(a, b *MessageInfo) int { return a.Date.Compare(b.Date) }

// sortField is the comparison of a SortOrder field. Typed comparisons,
// not fieldValue: a sort of a 10,000-item folder makes 130,000 of them.
func sortField(uri string) (func(a, b *MessageInfo) int, error) {
	switch strings.ToLower(uri) {
	case "item:datetimereceived", "item:datetimesent", "item:datetimecreated", "item:lastmodifiedtime":
		return byDate, nil
	case "item:subject", "message:conversationtopic":
		return func(a, b *MessageInfo) int { return compareValues(a.Subject, b.Subject) }, nil
	case "item:size":
		return func(a, b *MessageInfo) int { return cmp.Compare(a.Size, b.Size) }, nil
	case "message:isread":
		return func(a, b *MessageInfo) int { return compareValues(a.Read, b.Read) }, nil
	case "message:from", "message:sender":
		return func(a, b *MessageInfo) int { return compareValues(a.From, b.From) }, nil
	case "item:displayto":
		return func(a, b *MessageInfo) int { return compareValues(displayName(a.To), displayName(b.To)) }, nil
	case "item:itemclass":
		return func(a, b *MessageInfo) int { return 0 }, nil
	}
	if f := extCompare(uri); f != nil {
		return f, nil
	}
	return nil, errUnsupportedQuery
}

// match evaluates a SearchExpression (types.xsd) against a message.
func match(mi *MessageInfo, n *xnode) (bool, error) {
	switch n.Name.Local {
	case "And", "Or":
		if len(n.Kids) == 0 {
			return false, errUnsupportedQuery
		}
		for _, k := range n.Kids {
			ok, err := match(mi, k)
			if err != nil {
				return false, err
			}
			if ok == (n.Name.Local == "Or") {
				return ok, nil
			}
		}
		return n.Name.Local == "And", nil
	case "Not":
		if len(n.Kids) != 1 {
			return false, errUnsupportedQuery
		}
		ok, err := match(mi, n.Kids[0])
		return !ok, err
	case "Exists":
		_, err := fieldValue(mi, extPath(n))
		return err == nil, nil
	case "Contains":
		v, err := fieldValue(mi, extPath(n))
		if err != nil {
			return false, err
		}
		s, ok := v.(string)
		if !ok {
			return false, errUnsupportedQuery
		}
		want := n.child("Constant").attr("Value")
		if !strings.HasPrefix(n.attr("ContainmentComparison"), "Exact") {
			s, want = strings.ToLower(s), strings.ToLower(want)
		}
		switch n.attr("ContainmentMode") {
		case "FullString":
			return s == want, nil
		case "Prefixed":
			return strings.HasPrefix(s, want), nil
		default: // Substring, PrefixOnWords, ExactPhrase
			return strings.Contains(s, want), nil
		}
	case "IsEqualTo", "IsNotEqualTo", "IsGreaterThan", "IsGreaterThanOrEqualTo", "IsLessThan", "IsLessThanOrEqualTo":
		v, err := fieldValue(mi, extPath(n))
		if err != nil {
			return false, err
		}
		cn := n.path("FieldURIOrConstant", "Constant")
		if cn == nil {
			return false, errUnsupportedQuery
		}
		want, err := constant(v, cn.attr("Value"))
		if err != nil {
			return false, errUnsupportedQuery
		}
		c := compareValues(v, want)
		switch n.Name.Local {
		case "IsEqualTo":
			return c == 0, nil
		case "IsNotEqualTo":
			return c != 0, nil
		case "IsGreaterThan":
			return c > 0, nil
		case "IsGreaterThanOrEqualTo":
			return c >= 0, nil
		case "IsLessThan":
			return c < 0, nil
		default:
			return c <= 0, nil
		}
	}
	return false, errUnsupportedQuery
}

// filterSort applies the request's Restriction and SortOrder. Without a
// SortOrder the newest message comes first, as in Exchange's default
// view. It sorts pointers: a 10,000-item folder is sorted for every page.
func filterSort(list []MessageInfo, restriction, sortOrder *xnode) ([]*MessageInfo, error) {
	msgs := make([]*MessageInfo, 0, len(list))
	for i := range list {
		if restriction != nil && len(restriction.Kids) == 1 {
			ok, err := match(&list[i], restriction.Kids[0])
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		msgs = append(msgs, &list[i])
	}
	cmps := []func(a, b *MessageInfo) int{byDate}
	desc := []bool{true}
	if sortOrder != nil {
		cmps, desc = cmps[:0], desc[:0]
		for _, fo := range sortOrder.all("FieldOrder") {
			f, err := sortField(extPath(fo))
			if err != nil {
				return nil, err
			}
			cmps, desc = append(cmps, f), append(desc, fo.attr("Order") == "Descending")
		}
	}
	order := func(a, b *MessageInfo) int {
		for i, f := range cmps {
			if c := f(a, b); c != 0 {
				if desc[i] {
					return -c
				}
				return c
			}
		}
		return 0
	}
	// Listings come newest first: the default order costs one pass.
	if !slices.IsSortedFunc(msgs, order) {
		slices.SortStableFunc(msgs, order)
	}
	return msgs, nil
}

func (c *ewsCall) findItem() *el {
	shape := shapeOf(c.op.child("ItemShape"))
	view, _ := pageView(c.op.child("IndexedPageItemView")) // validated
	t := c.h.treeOrFail(c.r, c.u, c.log)
	return eachFolder("FindItem", t, c.u, folderRefs(c.op.child("ParentFolderIds")), func(n *ewsFolderNode) *el {
		var list []MessageInfo
		if !n.virtual() {
			var err error
			list, err = c.h.b.ListFolder(c.r.Context(), c.u.Address, n.Key)
			if err != nil && !errors.Is(err, ErrNotFound) {
				c.log.Error("ews: list folder", "err", err)
				return respMsg("FindItem", ewsInternal)
			}
		}
		if cv := c.op.child("CalendarView"); cv != nil {
			return c.calendarView(n, list, cv, shape)
		}
		found, err := filterSort(list, c.op.child("Restriction"), c.op.child("SortOrder"))
		if err != nil {
			return respMsg("FindItem", ewsUnsupportedPath)
		}
		start, end := view.window(len(found))
		items := E("t:Items")
		raw := needsRaw(shape, false) || n.calendar()
		for _, mi := range found[start:end] {
			it := &ewsItem{folder: n.Key, mi: *mi}
			if raw {
				if err := c.loadRaw(it); err != nil {
					c.log.Warn("ews: read message", "err", err)
				}
			}
			items.add(itemXML(it, shape, false))
		}
		return respMsg("FindItem", okMessage(), view.rootFolder(end, len(found), items))
	})
}
