// Package httpd is the Client Access web front end of an Exchange 2016/2019
// Mailbox server: HTTPS 443 (Outlook on the web, EWS, Autodiscover,
// ActiveSync, MAPI/HTTP, Outlook Anywhere, OAB, ECP) and HTTP 80 (the OWA
// redirect to 443, the Autodiscover HTTP redirect method and Internet
// calendar publishing), as the seed's "Network ports required for clients and
// services" table lists them and EXCHANGE.md section 6 describes them on the
// wire.
//
// The package depends on the rest of exsim only through Backend. NewHandler
// and NewHTTPHandler return http.Handlers; the caller runs them on an
// http.Server with the lab certificate and picks the address.
//
// Every response carries IIS's and Exchange's headers (Server:
// Microsoft-IIS/10.0, X-Powered-By, X-AspNet-Version, request-id,
// X-FEServer). Paths are matched case-insensitively, as IIS does.
package httpd
