// Package pop3d is a small, strict POP3 server (RFC 1939) with CAPA and
// extended response codes (RFC 2449), STLS (RFC 2595) and AUTH with SASL
// initial response (RFC 5034).
//
// One state machine serves two modes, chosen by Options:
//
//   - Backend mode (Options.Backend): the server owns the session. This is
//     Exchange's POP3 Backend service on port 1995 of the Mailbox server that
//     hosts the mailbox, and the lab's non-Exchange "Internet" mail host.
//   - Frontend mode (Options.Authenticator and Options.Upstream): Exchange's
//     POP3 service on 110 (STLS) and 995 (implicit TLS). It checks the
//     credentials locally, logs in to the backend that hosts the mailbox with
//     the same credentials and then relays bytes both ways (EXCHANGE.md
//     sections 1 and 6).
//
// Every text the server says comes from a Persona (persona.go): Exchange's
// exact strings, or a plain Internet server's.
//
// A listener that yields *tls.Conn (tls.NewListener) is served with implicit
// TLS (995, 1995); any other listener starts in clear text and offers STLS
// when Options.TLSConfig is set.
package pop3d
