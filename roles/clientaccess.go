package roles

import (
	"context"
)

// startClientAccess runs the Client Access services of a Mailbox server:
// POP3 and IMAP4 (frontends proxying to the backends of the mailbox's home
// server; closed unless the topology starts them) and HTTP/HTTPS.
func (r *mailboxRole) startClientAccess(ctx context.Context) error {
	local := storeAuth{accts: accounts{t: r.t, homes: map[string]bool{r.s.Config.Name: true}}, store: r.store}
	org := &storeAuth{accts: r.accts, ntlm: r.ntlm, lock: r.s.rt.lock}
	if err := r.s.startPOP3(local, org); err != nil {
		return err
	}
	if err := r.s.startIMAP(local, org); err != nil {
		return err
	}
	return r.startHTTP()
}

// startMailAccess runs the internet server's own IMAP and POP3 services,
// with ordinary (non-Exchange) greetings.
func (r *internetRole) startMailAccess(ctx context.Context) error {
	if err := r.s.startPOP3(storeAuth{accts: r.accts, store: r.store}, nil); err != nil {
		return err
	}
	return r.s.startIMAP(storeAuth{accts: r.accts, store: r.store}, nil)
}
