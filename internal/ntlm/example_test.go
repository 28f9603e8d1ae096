package ntlm_test

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/exsim/exsim/internal/ntlm"
)

func lookup(user, domain string) (password, account string, ok bool) {
	if strings.EqualFold(user, "alice") || strings.EqualFold(user, "alice@contoso.com") {
		return "P@ssw0rd", "alice@contoso.com", true
	}
	return "", "", false
}

// An HTTP server whose handlers require NTLM or Negotiate.
func ExampleHTTPAuth() {
	srv := ntlm.NewServer(ntlm.Options{
		TargetName: "CONTOSO", DNSDomain: "contoso.com",
		DNSComputer: "ex01.contoso.com", NetBIOSComputer: "EX01",
		Lookup: lookup,
	})
	auth := ntlm.NewHTTPAuth(srv, ntlm.HTTPOptions{})
	hs := &http.Server{
		ConnContext: auth.ConnContext, // binds handshakes to connections
		Handler: auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			account, _ := ntlm.AccountFromContext(r.Context())
			fmt.Fprintln(w, "hello", account)
		})),
	}
	_ = hs // hs.Serve(listener)
}

// The SASL server of SMTP AUTH NTLM, POP3 AUTH NTLM and IMAP AUTHENTICATE NTLM.
func ExampleNewSASLServer() {
	srv := ntlm.NewServer(ntlm.Options{TargetName: "CONTOSO", NetBIOSComputer: "EX01", Lookup: lookup})
	s := ntlm.NewSASLServer(srv, func(account string) error {
		fmt.Println("authenticated", account)
		return nil
	})
	challenge, done, err := s.Next(nil) // AUTH NTLM without an initial response
	fmt.Printf("%q %v %v\n", challenge, done, err)
	// Output: "" false <nil>
}
