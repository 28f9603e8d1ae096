package ldapd

import (
	"strings"
	"testing"

	"github.com/exsim/exsim/store/directory"
	"github.com/exsim/exsim/store/directory/directorytest"
)

func TestFilterMatches(t *testing.T) {
	e := directorytest.Entry("CN=alice,CN=Recipients,OU=MSExchangeGateway",
		"mail", "Alice@Contoso.com",
		"proxyAddresses", "SMTP:alice@contoso.com",
		"proxyAddresses", "smtp:a.wood@contoso.com",
		"uSNChanged", "42",
		"member", "CN=Bob,OU=x",
	)
	e.Set("distinguishedName", e.DN)
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{"(objectClass=*)", true},
		{"(objectClass=TOP)", true},
		{"(mail=alice@contoso.com)", true},
		{"(mail=bob@contoso.com)", false},
		{"(mail=*)", true},
		{"(telephoneNumber=*)", false},
		{"(proxyAddresses=smtp:a.wood*)", true},
		{"(proxyAddresses=*@contoso.com)", true},
		{"(proxyAddresses=*wood*contoso*)", true},
		{"(proxyAddresses=*wood*fabrikam*)", false},
		{"(uSNChanged>=41)", true},
		{"(uSNChanged>=100)", false},
		{"(uSNChanged<=9)", false},
		{"(&(mail=*)(uSNChanged<=42))", true},
		{"(|(mail=x)(uSNChanged=42))", true},
		{"(!(mail=x))", true},
		{"(!(mail=*))", false},
		{"(&)", true},
		{"(|)", false},
		{"(distinguishedName=cn=ALICE, cn=recipients,ou=msexchangegateway)", true},
		{"(member=cn=bob,ou=X)", true},
		{"(mail~=alice@contoso.com)", true},
		{"(mail:caseExactMatch:=x)", false},            // extensible match: Undefined
		{"(!(mail:caseExactMatch:=x))", false},         // not Undefined is Undefined
		{"(|(mail:caseExactMatch:=x)(mail=*))", true},  // Undefined or True
		{"(&(mail:caseExactMatch:=x)(mail=*))", false}, // Undefined and True
	} {
		f, err := compileFilter(tc.filter)
		if err != nil {
			t.Errorf("compileFilter(%q) = %v", tc.filter, err)
			continue
		}
		if got := f.Matches(e); got != tc.want {
			t.Errorf("Matches(%q) = %v, want %v", tc.filter, got, tc.want)
		}
	}
}

func TestFilterRefused(t *testing.T) {
	for _, s := range []string{"", "mail=x", "(mail=x", "(mail=x))", "((mail=x)", strings.Repeat("(!", 300) + "(a=b)" + strings.Repeat(")", 300)} {
		if _, err := compileFilter(s); codeOf(err) != directory.ResultProtocolError {
			t.Errorf("compileFilter(%.30q) = %v, want protocolError", s, err)
		}
	}
}
