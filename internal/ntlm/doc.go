// Package ntlm is the server side of NTLM authentication (MS-NLMP), so that
// exsim's Exchange persona accepts the NTLM it advertises: SMTP AUTH NTLM
// (MS-SMTPNTLM), POP3 and IMAP AUTH NTLM, and HTTP NTLM and Negotiate
// (MS-NTHT, RFC 4559, SPNEGO of RFC 4178) on EWS, Autodiscover, MAPI, RPC
// and OAB.
//
// The lab knows every password, so the server verifies responses itself,
// with no domain controller: Options.Lookup returns the password of a user,
// and the server computes the NT hash from it.
//
// What is verified (MS-NLMP section 3.2.5.1.2):
//   - NTLMv2 responses, against NTOWFv2 with the user domain as sent, in
//     upper case, and empty (clients differ); an LMv2 response is accepted
//     only from a client that sends no NT response;
//   - the NTLMv2 timestamp, within Options.MaxClockSkew (36 hours, Windows'
//     MaxLifetime) of the server's clock;
//   - the MIC, when the client's MsvAvFlags announce one, with the session
//     key (after key exchange when negotiated);
//   - the SPNEGO mechListMIC both ways, for Negotiate;
//   - NTLMv1, the DES-based NT response, with extended session security
//     (the "NTLM2 session response") or without (MS-NLMP section 3.3.1),
//     unless Options.RequireNTLMv2: Windows servers at the default LAN
//     Manager authentication level (3) accept NTLMv1 and NTLMv2, and
//     clients such as fetchmail and Perl's Authen::NTLM send only NTLMv1.
//     LMv1 responses alone are never accepted, nor anonymous logons.
//
// A Session is one authentication (NEGOTIATE in, CHALLENGE out,
// AUTHENTICATE in). SASLServer adapts it to go-sasl's sasl.Server for the
// mail protocols; HTTPAuth binds it to an HTTP connection.
package ntlm
