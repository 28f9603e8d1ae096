package directory

import (
	"errors"
	"fmt"
)

// LDAP result codes (RFC 4511 section 4.1.9 and appendix A) that the
// directory and the LDAP server answer with.
const (
	ResultSuccess                = 0
	ResultOperationsError        = 1
	ResultProtocolError          = 2
	ResultSizeLimitExceeded      = 4
	ResultAuthMethodNotSupported = 7
	ResultNoSuchAttribute        = 16
	ResultConstraintViolation    = 19
	ResultAttributeOrValueExists = 20
	ResultNoSuchObject           = 32
	ResultInvalidDNSyntax        = 34
	ResultInvalidCredentials     = 49
	ResultInsufficientAccess     = 50
	ResultUnavailable            = 52
	ResultUnwillingToPerform     = 53
	ResultObjectClassViolation   = 65
	ResultNotAllowedOnNonLeaf    = 66
	ResultNotAllowedOnRDN        = 67
	ResultEntryAlreadyExists     = 68
	ResultOther                  = 80
)

// Error is an LDAP result other than success: the code, Active Directory's
// diagnostic text and the matched DN the client sees. The Tree returns one
// for every refusal; an Authenticator may return one (wrapped or not) to
// choose the reply. Any other error becomes ResultOther with AD's DIR_ERROR
// text (AsResult).
type Error struct {
	Code       int
	Diagnostic string
	MatchedDN  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("ldap result %d: %s", e.Code, e.Diagnostic)
}

// The texts below follow the format of Active Directory's diagnostic
// messages (hex error, component, DSID, problem, data, build); those of the
// directory service agent (NameErr, UpdErr, AtrErr, SecErr, SvcErr) live
// here, the LDAP layer's (LdapErr) in servers/ldapd. DSIDs are
// representative, as they vary from build to build.
const (
	textDecoding    = "00000057: LdapErr: DSID-0C090D8A, comment: Error decoding ldap message, data 0, v4563"
	textNoObject    = "0000208D: NameErr: DSID-03100238, problem 2001 (NO_OBJECT), data 0, best match of:\n\t'%s'\n"
	textBadName     = "0000208F: NameErr: DSID-031001F8, problem 2006 (BAD_NAME_SYNTAX), data 8350, best match of:\n\t'%s'\n"
	textExists      = "00000524: UpdErr: DSID-031A11D8, problem 6005 (ENTRY_EXISTS), data 0\n"
	textNonLeaf     = "00002015: UpdErr: DSID-031A1236, problem 6003 (CANT_ON_NON_LEAF), data 0\n"
	textOnRDN       = "00002016: UpdErr: DSID-030F0DD0, problem 6004 (CANT_ON_RDN), data 0\n"
	textObjClass    = "00002014: UpdErr: DSID-030F0D1D, problem 6002 (OBJ_CLASS_VIOLATION), data 0\n"
	textAccess      = "00000005: SecErr: DSID-03152E29, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0\n"
	textNoAttr      = "00002077: AtrErr: DSID-03151E6D, #1:\n\t0: 00002077: DSID-03151E6D, problem 1001 (NO_ATTRIBUTE_OR_VAL), data 0, Att 0 (%s)\n"
	textAttrExists  = "00002083: AtrErr: DSID-03151F16, #1:\n\t0: 00002083: DSID-03151F16, problem 1006 (ATT_OR_VALUE_EXISTS), data 0, Att 0 (%s)\n"
	textWillNotPerf = "0000209A: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM), data 0\n"
	textDirError    = "000020EF: SvcErr: DSID-03200E7B, problem 5012 (DIR_ERROR), data 0\n"
)

var (
	// ErrAccountExpired is returned by DirectoryAuthenticator for an account
	// whose accountExpires has passed; an LDAP client gets AD's "data 701"
	// text.
	ErrAccountExpired = errors.New("directory: account expired")
	// ErrInvalidCredentials is returned by DirectoryAuthenticator for an
	// unknown account or a wrong password; an LDAP client gets AD's
	// "data 52e" text.
	ErrInvalidCredentials = errors.New("directory: invalid credentials")
)

// NoSuchObject is AD's NO_OBJECT refusal; matched is the deepest existing
// ancestor of the name asked for.
func NoSuchObject(matched string) *Error {
	return &Error{Code: ResultNoSuchObject, Diagnostic: fmt.Sprintf(textNoObject, matched), MatchedDN: matched}
}

// NoSuchAttribute is AD's NO_ATTRIBUTE_OR_VAL refusal for attr.
func NoSuchAttribute(attr string) *Error {
	return &Error{Code: ResultNoSuchAttribute, Diagnostic: fmt.Sprintf(textNoAttr, attr)}
}

// InsufficientAccess is AD's INSUFF_ACCESS_RIGHTS refusal.
func InsufficientAccess() *Error {
	return &Error{Code: ResultInsufficientAccess, Diagnostic: textAccess}
}

// UnwillingToPerform is AD's WILL_NOT_PERFORM refusal (a write of a system
// attribute, an operation the directory does not offer).
func UnwillingToPerform() *Error {
	return &Error{Code: ResultUnwillingToPerform, Diagnostic: textWillNotPerf}
}

// DecodingError is AD's refusal of a request, or a value in it, that cannot
// be decoded: the Tree's answer to a filter or value it cannot use, and the
// LDAP server's to a malformed message.
func DecodingError() *Error {
	return &Error{Code: ResultProtocolError, Diagnostic: textDecoding}
}

// AsResult maps any error to the LDAP result a client sees: an *Error as it
// is, anything else ResultOther with AD's DIR_ERROR text.
func AsResult(err error) *Error {
	var le *Error
	if errors.As(err, &le) {
		return le
	}
	return &Error{Code: ResultOther, Diagnostic: textDirError}
}

func errInvalidDN(dn string) *Error {
	return &Error{Code: ResultInvalidDNSyntax, Diagnostic: fmt.Sprintf(textBadName, dn)}
}

func errEntryExists() *Error {
	return &Error{Code: ResultEntryAlreadyExists, Diagnostic: textExists}
}

func errNonLeaf() *Error {
	return &Error{Code: ResultNotAllowedOnNonLeaf, Diagnostic: textNonLeaf}
}

func errOnRDN() *Error {
	return &Error{Code: ResultNotAllowedOnRDN, Diagnostic: textOnRDN}
}

func errObjectClass() *Error {
	return &Error{Code: ResultObjectClassViolation, Diagnostic: textObjClass}
}

func errAttributeExists(attr string) *Error {
	return &Error{Code: ResultAttributeOrValueExists, Diagnostic: fmt.Sprintf(textAttrExists, attr)}
}
