package probe

import (
	"context"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/exsim/exsim/topology"
)

// adamCapability is ACTIVE_DIRECTORY_ADAM_OID, which an AD LDS instance
// (the Edge's EdgeSync target) lists in supportedCapabilities (MS-ADTS
// section 3.1.1.3.4.3).
const adamCapability = "1.2.840.113556.1.4.1851"

// checkLDAPS verifies the Edge's certificate, binds anonymously (RFC 4513
// section 5.1.1) and reads the RootDSE (RFC 4512 section 5.1); an Edge must
// answer as AD LDS.
func (s *session) checkLDAPS(ctx context.Context, conn net.Conn) verdict {
	tc, desc, v, ok := s.handshake(ctx, conn)
	if !ok {
		return v
	}
	deadline, _ := ctx.Deadline()
	l := ldap.NewConn(tc, true)
	l.Start()
	l.SetTimeout(time.Until(deadline))
	defer l.Close()
	if err := l.UnauthenticatedBind(""); err != nil {
		if ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
			return s.broken(err, "LDAP bind response")
		}
		return verdict{outcome: OutcomeWrongPeer, detail: "anonymous bind: " + clip(err.Error()) + "; " + desc}
	}
	res, err := l.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"namingContexts", "supportedCapabilities", "dnsHostName"}, nil))
	if err != nil || len(res.Entries) == 0 {
		if err != nil && ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
			return s.broken(err, "RootDSE")
		}
		why := "no entry"
		if err != nil {
			why = err.Error()
		}
		return verdict{outcome: OutcomeWrongPeer, detail: "RootDSE read: " + clip(why) + "; " + desc}
	}
	e := res.Entries[0]
	detail := "RootDSE namingContexts=" + strings.Join(e.GetAttributeValues("namingContexts"), ";")
	if s.dst.Role == topology.RoleEdge && !slices.Contains(e.GetAttributeValues("supportedCapabilities"), adamCapability) {
		return verdict{outcome: OutcomeWrongPeer, detail: clip(detail) + ": not AD LDS (no ADAM capability); " + desc}
	}
	return verdict{outcome: OutcomeOpen, detail: clip(detail) + "; " + desc}
}
