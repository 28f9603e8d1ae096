// Package smtpclient is exsim's one SMTP client side. Every server role
// that hands mail on (a Transport service to its next hop, a Front End
// proxy to the Transport service, `exsim send`, the control API's send, the
// probe's SMTP checks) opens its sessions here.
//
//   - session.go sets a session up: greeting, EHLO with the sending
//     server's FQDN, STARTTLS required, opportunistic or off, or implicit
//     TLS, and records what the server showed (Session) and every line
//     (Options.Trace).
//   - client.go runs transactions on a set-up session: AUTH, then MAIL,
//     RCPT and DATA with a reply per recipient (Client.Deliver).
//   - reply.go maps go-smtp errors to SMTP replies (Reply) and tells a
//     reply from a broken connection.
//   - resolve.go turns mail exchangers and host names into endpoints
//     through the lab DNS (Resolver).
//   - send.go sends from a server's position or to an explicit host
//     (Sender), message.go builds the messages it generates (Build).
//
// What to do with a reply (retry, NDR, which next hop) is the caller's
// decision: the transport package makes it for the Transport service.
package smtpclient
