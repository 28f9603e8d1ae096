package httpd

import (
	"errors"
	"log/slog"
	"net/http"
)

// impersonate runs ExchangeImpersonation: an account holding the
// ApplicationImpersonation role acts as the mailbox the header names;
// every other account is refused with ErrorImpersonateUserDenied, never
// silently run as itself. It returns the user to act as, or nil after
// answering the fault. Requests are routed to the impersonated mailbox's
// server by X-AnchorMailbox, which clients send with the header
// (Microsoft: "Impersonation and EWS in Exchange").
func (h *Handler) impersonate(w http.ResponseWriter, r *http.Request, u *User, as string, log *slog.Logger) *User {
	if !u.Impersonator {
		log.Warn("impersonation refused", "as", as)
		h.ewsFault(w, "ErrorImpersonateUserDenied", "The account does not have permission to impersonate the requested user.",
			"The account does not have permission to impersonate the requested user.")
		return nil
	}
	// ConnectingSID names the mailbox by SMTP address or principal name
	// (the lab's UPNs are the addresses); SIDs name nobody here.
	target, err := h.b.FindUser(r.Context(), as)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && target == nil):
		log.Warn("impersonation of an unknown mailbox", "as", as)
		h.ewsFault(w, "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.", "The SMTP address has no mailbox associated with it.")
		return nil
	case err != nil:
		log.Error("ews: impersonation lookup", "err", err)
		h.ewsFault(w, "ErrorInternalServerError", "An internal server error occurred. The operation failed.", "An internal server error occurred. The operation failed.")
		return nil
	}
	log.Info("impersonating", "account", u.Address, "as", target.Address)
	return target
}
