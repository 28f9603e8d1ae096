package ldapd

import (
	"slices"
	"strconv"

	"github.com/exsim/exsim/store/directory"
)

// Capabilities an AD LDS instance announces (MS-ADTS section 3.1.1.3.4.3):
// ACTIVE_DIRECTORY_ADAM, ACTIVE_DIRECTORY_V51, ACTIVE_DIRECTORY_LDAP_INTEG,
// ACTIVE_DIRECTORY_ADAM_DIGEST, ACTIVE_DIRECTORY_V60, ACTIVE_DIRECTORY_V61_R2,
// ACTIVE_DIRECTORY_W8.
var adlDSCapabilities = []string{
	"1.2.840.113556.1.4.1851",
	"1.2.840.113556.1.4.1670",
	"1.2.840.113556.1.4.1791",
	"1.2.840.113556.1.4.1880",
	"1.2.840.113556.1.4.1935",
	"1.2.840.113556.1.4.2080",
	"1.2.840.113556.1.4.2237",
}

// rootDSE builds the RootDSE (RFC 4512 section 5.1) as AD LDS shows it: the
// controls and LDAP version this server really supports, AD LDS's
// capabilities and LDAP policy names, the naming contexts of the directory,
// then Options.RootDSE on top.
func (s *Server) rootDSE() *directory.Entry {
	e := &directory.Entry{}
	e.Set("currentTime", s.opts.Now().UTC().Format(directory.GeneralizedTimeLayout))
	if nc, ok := s.dir.(interface{ NamingContexts() []string }); ok {
		e.Set("namingContexts", nc.NamingContexts()...)
	}
	e.Set("supportedControl", "1.2.840.113556.1.4.319") // paged results (RFC 2696)
	e.Set("supportedLDAPVersion", "3")
	e.Set("supportedLDAPPolicies",
		"MaxPoolThreads", "MaxDatagramRecv", "MaxReceiveBuffer", "InitRecvTimeout", "MaxConnections",
		"MaxConnIdleTime", "MaxPageSize", "MaxQueryDuration", "MaxTempTableSize", "MaxResultSetSize",
		"MinResultSets", "MaxResultSetsPerConn", "MaxNotificationPerConn", "MaxValRange")
	if u, ok := s.dir.(interface{ USN() int64 }); ok {
		e.Set("highestCommittedUSN", strconv.FormatInt(u.USN(), 10))
	}
	e.Set("supportedCapabilities", adlDSCapabilities...)
	e.Set("isSynchronized", "TRUE")
	e.Set("objectClass", "top")
	keys := make([]string, 0, len(s.opts.RootDSE))
	for k := range s.opts.RootDSE {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e.Set(k, s.opts.RootDSE[k]...)
	}
	return e
}
