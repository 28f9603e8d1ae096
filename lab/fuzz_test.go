package lab

import (
	"regexp"
	"strings"
	"testing"

	"github.com/exsim/exsim/internal/fuzzseed"
	"github.com/exsim/exsim/probe"
)

// FuzzNames: whatever a topology calls its servers and zones, the names
// the lab derives stay valid: a namespace file name, an interface name, a
// compose service name, an nft comment.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"EX01", "EDGE01", "router", "../etc", "a/b", "", "Ünïcödé", strings.Repeat("X", 300), "a\"b\\c\nd"} {
		fuzzseed.Add(f, s)
	}
	composeRE := regexp.MustCompile(`^[a-z0-9._-]*$`)
	f.Fuzz(func(t *testing.T, s string) {
		ns := nsName("exsim", s)
		if strings.ContainsAny(ns, "/\x00") || !strings.HasPrefix(ns, "exsim-") {
			t.Errorf("nsName(%q) = %q: not a file name under /run/netns", s, ns)
		}
		if c := composeName(s); !composeRE.MatchString(c) {
			t.Errorf("composeName(%q) = %q", s, c)
		}
		taken := map[string]bool{}
		if n := linkName("ve-", s, 3, taken); len(n) > ifNameMax || !strings.HasPrefix(n, "ve-") || !composeRE.MatchString(n) {
			t.Errorf("linkName(%q) = %q", s, n)
		}
		r := Rule{Transport: "tcp", Flows: []probe.Flow{{ID: s, Source: s, Dest: s}}}
		for _, c := range []string{r.Comment(), (Rule{Flows: r.Flows}).Comment()} {
			if len(c) > nftCommentMax || strings.ContainsAny(c, "\"\\\n\r") {
				t.Errorf("Comment(%q) = %q: not a valid nft comment", s, c)
			}
		}
	})
}
