package ldapd

import (
	"slices"
	"strconv"

	"github.com/exsim/exsim/store/directory"
)

// The RootDSE lists of an Edge's AD LDS instance (Windows Server 2019).

// adLDSControls is supportedControl: the LDAP controls of MS-ADTS section
// 3.1.1.3.4.1 that Windows Server 2019 lists, in the order a Windows Server
// 2016/2019 rootDSE shows them. Two points have no public source: the order
// (taken from rootDSE dumps of Windows Server domain controllers, as no
// public dump of an Edge's AD LDS instance exists) and the omission of
// LDAP_SERVER_RODC_DCPROMO_OID (1.2.840.113556.1.4.1341), an AD DS read-only
// DC promotion control that an AD LDS instance has no use for.
//
// Of these the server implements the simple paged results control
// (1.2.840.113556.1.4.319, RFC 2696); it ignores the others, critical or
// not, as it did before they were listed.
var adLDSControls = []string{
	"1.2.840.113556.1.4.319",   // LDAP_PAGED_RESULT_OID_STRING
	"1.2.840.113556.1.4.801",   // LDAP_SERVER_SD_FLAGS_OID
	"1.2.840.113556.1.4.473",   // LDAP_SERVER_SORT_OID
	"1.2.840.113556.1.4.528",   // LDAP_SERVER_NOTIFICATION_OID
	"1.2.840.113556.1.4.417",   // LDAP_SERVER_SHOW_DELETED_OID
	"1.2.840.113556.1.4.619",   // LDAP_SERVER_LAZY_COMMIT_OID
	"1.2.840.113556.1.4.841",   // LDAP_SERVER_DIRSYNC_OID
	"1.2.840.113556.1.4.529",   // LDAP_SERVER_EXTENDED_DN_OID
	"1.2.840.113556.1.4.805",   // LDAP_SERVER_TREE_DELETE_OID
	"1.2.840.113556.1.4.521",   // LDAP_SERVER_CROSSDOM_MOVE_TARGET_OID
	"1.2.840.113556.1.4.970",   // LDAP_SERVER_GET_STATS_OID
	"1.2.840.113556.1.4.1338",  // LDAP_SERVER_VERIFY_NAME_OID
	"1.2.840.113556.1.4.474",   // LDAP_SERVER_RESP_SORT_OID
	"1.2.840.113556.1.4.1339",  // LDAP_SERVER_DOMAIN_SCOPE_OID
	"1.2.840.113556.1.4.1340",  // LDAP_SERVER_SEARCH_OPTIONS_OID
	"1.2.840.113556.1.4.1413",  // LDAP_SERVER_PERMISSIVE_MODIFY_OID
	"2.16.840.1.113730.3.4.9",  // LDAP_CONTROL_VLVREQUEST
	"2.16.840.1.113730.3.4.10", // LDAP_CONTROL_VLVRESPONSE
	"1.2.840.113556.1.4.1504",  // LDAP_SERVER_ASQ_OID
	"1.2.840.113556.1.4.1852",  // LDAP_SERVER_QUOTA_CONTROL_OID
	"1.2.840.113556.1.4.802",   // LDAP_SERVER_RANGE_OPTION_OID
	"1.2.840.113556.1.4.1907",  // LDAP_SERVER_SHUTDOWN_NOTIFY_OID
	"1.2.840.113556.1.4.1948",  // LDAP_SERVER_RANGE_RETRIEVAL_NOERR_OID
	"1.2.840.113556.1.4.1974",  // LDAP_SERVER_FORCE_UPDATE_OID
	"1.2.840.113556.1.4.2026",  // LDAP_SERVER_DN_INPUT_OID
	"1.2.840.113556.1.4.2064",  // LDAP_SERVER_SHOW_RECYCLED_OID
	"1.2.840.113556.1.4.2065",  // LDAP_SERVER_SHOW_DEACTIVATED_LINK_OID
	"1.2.840.113556.1.4.2066",  // LDAP_SERVER_POLICY_HINTS_DEPRECATED_OID
	"1.2.840.113556.1.4.2090",  // LDAP_SERVER_DIRSYNC_EX_OID
	"1.2.840.113556.1.4.2205",  // LDAP_SERVER_UPDATE_STATS_OID
	"1.2.840.113556.1.4.2204",  // LDAP_SERVER_TREE_DELETE_EX_OID
	"1.2.840.113556.1.4.2206",  // LDAP_SERVER_SEARCH_HINTS_OID
	"1.2.840.113556.1.4.2211",  // LDAP_SERVER_EXPECTED_ENTRY_COUNT_OID
	"1.2.840.113556.1.4.2239",  // LDAP_SERVER_POLICY_HINTS_OID
	"1.2.840.113556.1.4.2255",  // LDAP_SERVER_SET_OWNER_OID
	"1.2.840.113556.1.4.2256",  // LDAP_SERVER_BYPASS_QUOTA_OID
	"1.2.840.113556.1.4.2309",  // LDAP_SERVER_LINK_TTL_OID
}

// adLDSCapabilities is supportedCapabilities (MS-ADTS section
// 3.1.1.3.4.3): ACTIVE_DIRECTORY_ADAM, ACTIVE_DIRECTORY_V51,
// ACTIVE_DIRECTORY_LDAP_INTEG, ACTIVE_DIRECTORY_ADAM_DIGEST,
// ACTIVE_DIRECTORY_V60, ACTIVE_DIRECTORY_V61_R2, ACTIVE_DIRECTORY_W8. An
// AD LDS instance never lists ACTIVE_DIRECTORY (1.2.840.113556.1.4.800),
// which is AD DS's; the ADAM capability is what tells the two apart.
var adLDSCapabilities = []string{
	"1.2.840.113556.1.4.1851",
	"1.2.840.113556.1.4.1670",
	"1.2.840.113556.1.4.1791",
	"1.2.840.113556.1.4.1880",
	"1.2.840.113556.1.4.1935",
	"1.2.840.113556.1.4.2080",
	"1.2.840.113556.1.4.2237",
}

// adLDSPolicies is supportedLDAPPolicies: the policies MS-ADTS section
// 3.1.1.3.4.6 gives Windows Server 2016 to 2019 (all but MaxActiveQueries,
// gone since Windows Server 2003, and SecurityDescriptorWarningSize, which
// came with Windows 11 22H2). The order is that of Windows Server domain
// controllers' rootDSE dumps; no public source gives it. The names are
// spelled as MS-ADTS spells them (MaxPercentDirSyncRequest, which ntdsutil
// shows as MaxPercentDirSyncRequests).
var adLDSPolicies = []string{
	"MaxPoolThreads", "MaxPercentDirSyncRequest", "MaxDatagramRecv", "MaxReceiveBuffer",
	"InitRecvTimeout", "MaxConnections", "MaxConnIdleTime", "MaxPageSize", "MaxBatchReturnMessages",
	"MaxQueryDuration", "MaxDirSyncDuration", "MaxTempTableSize", "MaxResultSetSize", "MinResultSets",
	"MaxResultSetsPerConn", "MaxNotificationPerConn", "MaxValRange", "MaxValRangeTransitive",
	"ThreadMemoryLimit", "SystemMemoryLimitPercent",
}

// rootDSE builds the RootDSE (RFC 4512 section 5.1) as AD LDS shows it: its
// controls, LDAP versions, capabilities and LDAP policy names, the naming
// contexts of the directory, then Options.RootDSE on top.
func (s *Server) rootDSE() *directory.Entry {
	e := &directory.Entry{}
	e.Set("currentTime", s.opts.Now().UTC().Format(directory.GeneralizedTimeLayout))
	if nc, ok := s.dir.(interface{ NamingContexts() []string }); ok {
		e.Set("namingContexts", nc.NamingContexts()...)
	}
	e.Set("supportedControl", adLDSControls...)
	e.Set("supportedLDAPVersion", "3")
	e.Set("supportedLDAPPolicies", adLDSPolicies...)
	if u, ok := s.dir.(interface{ USN() int64 }); ok {
		e.Set("highestCommittedUSN", strconv.FormatInt(u.USN(), 10))
	}
	e.Set("supportedCapabilities", adLDSCapabilities...)
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
