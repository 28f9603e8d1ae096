package edgesync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/leaktest"
	"github.com/exsim/exsim/store/directory"
	"github.com/go-ldap/ldap/v3"
)

func TestRoundTrip(t *testing.T) {
	te := startEdge(t)
	view := te.edge.View()
	creds := te.subscribe(t, ex01) // EX02 joined the site later: not a participant
	if creds["EX02"] != nil {
		t.Fatalf("Import gave credentials to EX02, which does not take part")
	}
	if known, have := view.KnownRecipient("alice@contoso.com"); known || have {
		t.Errorf("KnownRecipient before any sync = %v, %v; want false, false (the Edge must not reject)", known, have)
	}
	if view.RecipientUnknown("nobody@contoso.com") {
		t.Errorf("RecipientUnknown before any sync = true, want false")
	}

	o := newOrg(ex01)
	d := &dialer{}
	s := te.syncer(t, creds["EX01"], o, d)
	if err := s.SyncNow(ctxT(t)); err != nil {
		t.Fatalf("SyncNow() = %v", err)
	}
	st := s.Status()
	if st.LastError != "" || st.LastSuccess.IsZero() || st.ConfigEntries != 4 || st.RecipientEntries != 2 {
		t.Errorf("Status() = %+v; want success with 4 config and 2 recipient entries", st)
	}

	// The Edge sees what EX01 pushed.
	if got, want := view.AcceptedDomains(), []AcceptedDomain{{Name: "contoso.com", Type: Authoritative, Default: true}}; !slices.Equal(got, want) {
		t.Errorf("AcceptedDomains() = %v, want %v", got, want)
	}
	for domain, want := range map[string]bool{"contoso.com": true, "CONTOSO.COM.": true, "fabrikam.com": false, "sub.contoso.com": false} {
		if got := view.IsAuthoritative(domain); got != want {
			t.Errorf("IsAuthoritative(%q) = %v, want %v", domain, got, want)
		}
	}
	for addr, want := range map[string]bool{"alice@contoso.com": true, "Alice@Contoso.COM": true, "bob@contoso.com": true, "nobody@contoso.com": false} {
		known, have := view.KnownRecipient(addr)
		if known != want || !have {
			t.Errorf("KnownRecipient(%q) = %v, %v; want %v, true", addr, known, have, want)
		}
	}
	for addr, want := range map[string]bool{"alice@contoso.com": false, "nobody@contoso.com": true, "someone@fabrikam.com": false, "no-at-sign": false} {
		if got := view.RecipientUnknown(addr); got != want {
			t.Errorf("RecipientUnknown(%q) = %v, want %v", addr, got, want)
		}
	}
	if got := view.MailboxServers(); !slices.Equal(got, []Server{ex01}) {
		t.Errorf("MailboxServers() = %v, want [EX01]", got)
	}
	inbound, ok := view.SendConnector("EdgeSync - Inbound to " + DefaultSite)
	if !ok || !slices.Equal(inbound.SmartHosts, []string{"--"}) || inbound.DNSRouting || inbound.Port != 25 {
		t.Errorf("inbound connector = %+v, %v", inbound, ok)
	}
	if got := len(view.SendConnectors()); got != 2 {
		t.Errorf("SendConnectors() has %d connectors, want 2", got)
	}
	if org, site := view.Organization(); org != "Contoso" || site != DefaultSite {
		t.Errorf("Organization() = %q, %q", org, site)
	}
	if !view.IsSafeSender("someone@partner.example") || view.IsSafeSender("someone@other.example") {
		t.Errorf("safe senders not replicated")
	}
	if !view.IsBlockedSender("spammer@bad.example") || view.IsBlockedSender("friend@bad.example") {
		t.Errorf("blocked senders not replicated")
	}
	if view.Stale(time.Minute) || view.LastSync().IsZero() {
		t.Errorf("Stale() after a sync = true or LastSync zero (%v)", view.LastSync())
	}

	// The bootstrap account was used once and is gone.
	if _, err := te.tree.Get(creds["EX01"].BootstrapUsername); err == nil {
		t.Errorf("bootstrap account still in the Edge's directory after the initial replication")
	}
	c := dialLDAPS(t, te)
	if err := c.Bind(creds["EX01"].BootstrapUsername, creds["EX01"].BootstrapPassword); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("bootstrap bind after use = %v, want invalidCredentials", err)
	}

	// EX02 has no credentials of its own: whatever it tries is refused.
	d2 := &dialer{}
	fake := &Credentials{Server: "EX02", EdgeName: "EDGE01", EdgeFQDN: "edge01.contoso.com",
		Username: te.edge.Layout().Account(ReplicationAccountName("EDGE01", "EX02", 0)), Password: "guess"}
	s2 := te.syncer(t, fake, newOrg(ex02), d2)
	if err := s2.SyncNow(ctxT(t)); err == nil || !strings.Contains(err.Error(), "Invalid Credentials") {
		t.Errorf("EX02 SyncNow() = %v, want invalid credentials", err)
	}
	if s2.Status().LastError == "" || d2.calls.Load() != 1 {
		t.Errorf("EX02 status %+v after %d dials; want an error after 1", s2.Status(), d2.calls.Load())
	}

	// A removed recipient disappears after the next sync.
	o.setAddrs("alice@contoso.com")
	if err := s.SyncNow(ctxT(t)); err != nil {
		t.Fatalf("SyncNow() = %v", err)
	}
	if known, _ := view.KnownRecipient("bob@contoso.com"); known {
		t.Errorf("bob still known after his removal was synced")
	}
	if got := s.Status().RecipientEntries; got != 1 || view.RecipientCount() != 1 {
		t.Errorf("RecipientEntries = %d, RecipientCount() = %d; want 1", got, view.RecipientCount())
	}

	// Every connection went through Dial.
	if got := d.calls.Load(); got != 2 {
		t.Errorf("Dial called %d times for 2 syncs", got)
	}

	// 50636 blocked: the error is recorded, nothing crashes, and the Edge
	// answers from its last data.
	last := s.Status().LastSuccess
	d.blocked.Store(true)
	if err := s.SyncNow(ctxT(t)); !errors.Is(err, errBlocked) {
		t.Errorf("SyncNow() through a blocked port = %v, want %v", err, errBlocked)
	}
	st = s.Status()
	if !strings.Contains(st.LastError, "blocked") || !st.LastSuccess.Equal(last) || st.LastAttempt.Before(last) {
		t.Errorf("Status() after a blocked sync = %+v", st)
	}
	if known, have := view.KnownRecipient("alice@contoso.com"); !known || !have {
		t.Errorf("KnownRecipient(alice) with the Mailbox server cut off = %v, %v; want true, true", known, have)
	}
}

func TestRunRetriesAtItsInterval(t *testing.T) {
	te := startEdge(t)
	creds := te.subscribe(t, ex01)
	d := &dialer{called: make(chan struct{}, 100)}
	d.blocked.Store(true)
	s := te.syncer(t, creds["EX01"], newOrg(ex01), d, func(o *Options) {
		o.ConfigInterval = 10 * time.Millisecond
		o.RecipientInterval = 15 * time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for range 3 {
		<-d.called
	}
	if st := s.Status(); st.LastError == "" || !st.LastSuccess.IsZero() {
		t.Errorf("Status() while blocked = %+v, want an error and no success", st)
	}
	d.blocked.Store(false)
	// Sessions are serialized: once the second dial after unblocking has
	// happened, the first successful session has finished.
	for range 2 {
		<-d.called
	}
	if st := s.Status(); st.LastSuccess.IsZero() {
		t.Errorf("Status() after unblocking = %+v, want a success", st)
	}
	cancel()
	if err := leaktest.Wait(t, done, 10*time.Second, "Run() after its context ended"); err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
}

func TestRenewalAddsLateMailboxServer(t *testing.T) {
	te := startEdge(t)
	first := te.subscribe(t, ex01)
	o := newOrg(ex01)
	s1 := te.syncer(t, first["EX01"], o, &dialer{})
	if err := s1.SyncNow(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if te.edge.View().MailboxServers()[0].Name != "EX01" {
		t.Fatalf("EX01 not replicated")
	}

	// Renewal: a new file on the Edge, imported with EX02 taking part.
	renewed := te.subscribe(t, ex01, ex02)
	o.setServers(ex01, ex02)
	s2 := te.syncer(t, renewed["EX02"], o, &dialer{})
	if err := s2.SyncNow(ctxT(t)); err != nil {
		t.Fatalf("EX02 SyncNow() after renewal = %v", err)
	}
	if got := te.edge.View().MailboxServers(); !slices.Equal(got, []Server{ex01, ex02}) {
		t.Errorf("MailboxServers() after renewal = %v", got)
	}
	// The renewal gave EX01 new credentials; the old ones are refused.
	if err := s1.SyncNow(ctxT(t)); err == nil {
		t.Errorf("EX01 SyncNow() with pre-renewal credentials succeeded")
	}
	s1b := te.syncer(t, renewed["EX01"], o, &dialer{})
	if err := s1b.SyncNow(ctxT(t)); err != nil {
		t.Errorf("EX01 SyncNow() with renewed credentials = %v", err)
	}
	// The Administrators role holds exactly the two ESRAs.
	admins, err := te.tree.Get(te.edge.Layout().Administrators())
	if err != nil {
		t.Fatal(err)
	}
	if got := len(admins.Get("member")); got != 2 {
		t.Errorf("Administrators members = %q, want the two ESRAs", admins.Get("member"))
	}
}

func TestExpiredBootstrap(t *testing.T) {
	te := startEdge(t)
	f, err := te.edge.NewSubscription(te.certPEM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import(f, []Server{ex01}, f.Expires().Add(time.Second)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("Import() after 24 h = %v, want expired", err)
	}
	// Imported in time, but the first sync comes too late.
	creds, err := Import(f, []Server{ex01}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	late := func(o *Options) { o.Now = func() time.Time { return f.Expires().Add(time.Minute) } }
	s := te.syncer(t, creds["EX01"], newOrg(ex01), &dialer{}, late)
	if err := s.SyncNow(ctxT(t)); err == nil || !strings.Contains(err.Error(), "renew the Edge Subscription") {
		t.Errorf("SyncNow() with an expired bootstrap = %v", err)
	}
}

func TestEdgeRefusesLocalChangesWhileSubscribed(t *testing.T) {
	te := startEdge(t)
	if err := te.edge.SetSendConnector(Connector{Name: "To Internet", AddressSpaces: []string{"SMTP:*;1"}, DNSRouting: true, Port: 25}); err != nil {
		t.Fatalf("SetSendConnector() before subscribing = %v", err)
	}
	if err := te.edge.SetAcceptedDomain(AcceptedDomain{Name: "local.example"}); err != nil {
		t.Fatalf("SetAcceptedDomain() before subscribing = %v", err)
	}
	creds := te.subscribe(t, ex01)
	// New-EdgeSubscription deleted the locally made objects.
	if n := len(te.edge.View().SendConnectors()) + len(te.edge.View().AcceptedDomains()); n != 0 {
		t.Errorf("%d local objects survived the subscription", n)
	}
	for name, op := range map[string]func() error{
		"Set-AcceptedDomain":    func() error { return te.edge.SetAcceptedDomain(AcceptedDomain{Name: "x.example"}) },
		"Remove-AcceptedDomain": func() error { return te.edge.RemoveAcceptedDomain("contoso.com") },
		"Set-SendConnector":     func() error { return te.edge.SetSendConnector(Connector{Name: "x"}) },
		"Remove-SendConnector":  func() error { return te.edge.RemoveSendConnector("x") },
	} {
		err := op()
		var se *SubscribedError
		if !errors.As(err, &se) || err.Error() != fmt.Sprintf(TextSubscribed, name) {
			t.Errorf("%s while subscribed = %v, want %q", name, err, fmt.Sprintf(TextSubscribed, name))
		}
	}
	if err := te.syncer(t, creds["EX01"], newOrg(ex01), &dialer{}).SyncNow(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	// Remove-EdgeSubscription: accounts and replicated data go, local
	// changes are allowed again.
	if err := te.edge.Unsubscribe(); err != nil {
		t.Fatalf("Unsubscribe() = %v", err)
	}
	v := te.edge.View()
	if te.edge.Subscribed() || len(v.AcceptedDomains()) != 0 || v.RecipientCount() != 0 || !v.LastSync().IsZero() {
		t.Errorf("after Unsubscribe: subscribed=%v domains=%v recipients=%d", te.edge.Subscribed(), v.AcceptedDomains(), v.RecipientCount())
	}
	if _, err := te.tree.Get(creds["EX01"].Username); err == nil {
		t.Errorf("ESRA still present after Unsubscribe")
	}
	if err := te.edge.SetAcceptedDomain(AcceptedDomain{Name: "x.example"}); err != nil {
		t.Errorf("SetAcceptedDomain() after Unsubscribe = %v", err)
	}
}

func TestEdgeDirectorySurvivesRestart(t *testing.T) {
	te := startEdge(t)
	creds := te.subscribe(t, ex01)
	if err := te.syncer(t, creds["EX01"], newOrg(ex01), &dialer{}).SyncNow(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	tree, edge := openEdge(t, te.path)
	if edge.Layout() != te.edge.Layout() {
		t.Errorf("Layout after restart = %v, want %v", edge.Layout(), te.edge.Layout())
	}
	if known, have := edge.View().KnownRecipient("alice@contoso.com"); !known || !have || !edge.Subscribed() {
		t.Errorf("after restart: KnownRecipient = %v, %v; Subscribed = %v", known, have, edge.Subscribed())
	}
	auth := directory.NewDirectoryAuthenticator(tree, nil)
	if err := auth.Bind(creds["EX01"].Username, creds["EX01"].Password); err != nil {
		t.Errorf("ESRA lost across restart: %v", err)
	}
}

func TestParticipantsSyncConcurrently(t *testing.T) {
	te := startEdge(t)
	creds := te.subscribe(t, ex01, ex02)
	o := newOrg(ex01, ex02)
	s1 := te.syncer(t, creds["EX01"], o, &dialer{})
	s2 := te.syncer(t, creds["EX02"], o, &dialer{})
	if err := s1.SyncNow(ctxT(t)); err != nil { // the initial replication
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for _, s := range []*Syncer{s1, s2} {
		go func() {
			var err error
			for i := range 5 {
				o.setAddrs(fmt.Sprintf("u%d@contoso.com", i), "alice@contoso.com")
				err = errors.Join(err, s.SyncNow(ctxT(t)))
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent SyncNow() = %v", err)
		}
	}
	if known, _ := te.edge.View().KnownRecipient("alice@contoso.com"); !known {
		t.Errorf("alice unknown after concurrent syncs")
	}
}
