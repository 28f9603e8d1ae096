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
