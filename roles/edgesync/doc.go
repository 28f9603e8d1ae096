// Package edgesync is EdgeSync: the Edge Subscription and the one-way
// replication from the Mailbox servers of the subscribed AD site to the
// Edge Transport server's AD LDS instance over secure LDAP on TCP 50636
// (EXCHANGE.md sections 1 and 7; seed row "EdgeSync synchronization").
//
// The pieces, in the order they are used:
//
//   - model.go: what is replicated, as Go types: Config (accepted domains,
//     the site's participating Mailbox servers, Send connectors) and
//     Recipients (SHA-256 hashes of proxy addresses, safe and blocked
//     senders).
//   - layout.go: where each of them lives in the Edge's directory, an
//     AD-LDS-like tree (CN=Configuration,CN={GUID} and OU=MSExchangeGateway).
//   - subscription.go: New-EdgeSubscription on the Edge (the
//     EdgeSubscriptionData XML file with the bootstrap account, ESBRA, valid
//     24 hours) and its import on a Mailbox server (one EdgeSync replication
//     account, ESRA, per Edge and Mailbox server pair).
//   - edge.go and view.go: the Edge side. Edge owns the directory served by
//     servers/ldapd (store/directory: skeleton, accounts, ACL, RootDSE) and refuses local
//     changes to replicated objects while subscribed; EdgeView answers the
//     Edge's questions (accepted domains, recipient validation, the smart
//     hosts of "EdgeSync - Inbound to <site>", staleness).
//   - syncer.go and converge.go: the Mailbox side, the Microsoft Exchange
//     EdgeSync service: it binds to the Edge and converges its directory to
//     a snapshot of the organization, configuration and recipients each on
//     its own interval, through a caller-supplied dialer.
package edgesync
