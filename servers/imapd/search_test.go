package imapd

import (
	"context"
	"testing"
)

// SEARCH on headers and text over messages whose raw bytes differ from
// their decoded text (encoded words, folding, case), so that a criterion
// decided on the raw header (headerCannotHold) is never wrong.
func TestSearchHeadersAndText(t *testing.T) {
	l := newLab(t, labOptions{})
	msgs := []string{
		// 1: the subject only as an encoded word ("Quarterly report")
		"From: Carol <carol@fabrikam.com>\r\nSubject: =?UTF-8?B?UXVhcnRlcmx5IHJlcG9ydA==?=\r\n\r\nbudget inside\r\n",
		// 2: a folded subject
		"From: Dave <dave@fabrikam.com>\r\nSubject: travel\r\n plans\r\nX-Custom: yes\r\n\r\nnothing here\r\n",
		// 3: upper case, and a word only in the body
		"From: ERIN <ERIN@FABRIKAM.COM>\r\nSubject: BUDGET Review\r\n\r\nquarterly numbers\r\n",
		// 4: multipart, the word only in the HTML part
		"From: frank@fabrikam.com\r\nSubject: misc\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>invoice</p>\r\n--b--\r\n",
	}
	for _, m := range msgs {
		if _, err := l.st.Deliver(context.Background(), []byte(m), "alice@contoso.com"); err != nil {
			t.Fatal(err)
		}
	}
	c := l.selectINBOX(t)
	// Twice: the second time the headers come from the Backend's cache.
	for range 2 {
		searchTable(c)
	}
	l.backend.headers.mu.RLock()
	n := len(l.backend.headers.m)
	l.backend.headers.mu.RUnlock()
	if n != len(msgs) {
		t.Errorf("header cache holds %d messages, want %d", n, len(msgs))
	}
}

func searchTable(c *conversation) {
	c.t.Helper()
	for _, tc := range []struct{ criteria, want string }{
		{`SUBJECT quarterly`, "SEARCH 1"},
		{`SUBJECT QUARTERLY`, "SEARCH 1"},
		{`SUBJECT budget`, "SEARCH 3"},
		{`SUBJECT "travel plans"`, "SEARCH 2"}, // unfolded
		{`SUBJECT travel`, "SEARCH 2"},
		{`SUBJECT plans`, "SEARCH 2"},
		{`FROM erin@fabrikam`, "SEARCH 3"},
		{`FROM fabrikam`, "SEARCH 1 2 3 4"},
		{`SUBJECT numbers`, "SEARCH"},
		{`HEADER X-Custom ""`, "SEARCH 2"},
		{`HEADER X-Custom yes`, "SEARCH 2"},
		{`HEADER X-Custom no`, "SEARCH"},
		{`NOT SUBJECT budget`, "SEARCH 1 2 4"},
		{`OR SUBJECT misc FROM dave`, "SEARCH 2 4"},
		{`BODY budget`, "SEARCH 1"},
		{`TEXT quarterly`, "SEARCH 1 3"},
		{`TEXT invoice`, "SEARCH 4"},
		{`UID 2:3 SUBJECT review`, "SEARCH 3"},
	} {
		c.told("s1 SEARCH "+tc.criteria, tc.want)
	}
}

// The header cache stays within its bound however many messages are searched.
func TestHeaderCacheBound(t *testing.T) {
	var c headerCache
	h := rawHeader{lower: make([]byte, 1000), usable: true}
	for uid := range uint32(3 * maxHeaderCache / 1000) {
		c.put(headerKey(7, uid+1), h)
		if c.bytes > maxHeaderCache {
			t.Fatalf("after %d headers the cache holds %d bytes, over %d", uid+1, c.bytes, maxHeaderCache)
		}
	}
	if c.bytes < maxHeaderCache/2 {
		t.Errorf("the cache holds %d bytes, want it used (over half of %d)", c.bytes, maxHeaderCache)
	}
	got := 0
	for k, e := range c.m {
		got += e.size()
		if k>>32 != 7 {
			t.Fatalf("key %x", k)
		}
	}
	if got != c.bytes {
		t.Errorf("entries add up to %d bytes, the count says %d", got, c.bytes)
	}
}
