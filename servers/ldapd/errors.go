package ldapd

import (
	"errors"

	"github.com/exsim/exsim/store/directory"
)

// The LDAP layer's diagnostic texts, in the format of Active Directory's
// (hex error, component, DSID, comment, data, build): those of Windows
// Server 2019 (v4563) captures for bind and operations, representative DSIDs
// for the others, as they vary from build to build. The directory's own
// refusals (NameErr, UpdErr, ...) and the decoding error both share come
// from store/directory.
const (
	textBindRequired = "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563"
	textInvalidCreds = "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 52e, v4563"
	textExpired      = "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 701, v4563"
	textSASL         = "00002028: LdapErr: DSID-0C090BD8, comment: The server does not support the requested authentication mechanism, data 0, v4563"
	textVersion      = "00000057: LdapErr: DSID-0C090A61, comment: Error decoding ldap message, data 0, v4563"
	textFilter       = "00000057: LdapErr: DSID-0C0911DE, comment: Error processing filter, data 0, v4563"
	textUnknownExtOp = "0000203D: LdapErr: DSID-0C091031, comment: Unknown extended request OID, data 0, v4563"
	textTooLarge     = "00000057: LdapErr: DSID-0C090A1E, comment: The size of the request exceeds MaxReceiveBuffer, data 0, v4563"
	textUnavailable  = "00000005: SvcErr: DSID-03200DFD, problem 5001 (BUSY), data 0, v4563"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("ldapd: server closed")

func errUnavailable() *directory.Error {
	return &directory.Error{Code: directory.ResultUnavailable, Diagnostic: textUnavailable}
}

func errRequestTooLarge() *directory.Error {
	return &directory.Error{Code: directory.ResultProtocolError, Diagnostic: textTooLarge}
}

func errBindRequired() *directory.Error {
	return &directory.Error{Code: directory.ResultOperationsError, Diagnostic: textBindRequired}
}

// bindError maps an Authenticator's refusal to AD's reply.
func bindError(err error) *directory.Error {
	if errors.Is(err, directory.ErrAccountExpired) {
		return &directory.Error{Code: directory.ResultInvalidCredentials, Diagnostic: textExpired}
	}
	return &directory.Error{Code: directory.ResultInvalidCredentials, Diagnostic: textInvalidCreds}
}

// codeOf is the result code err answers with (success for nil).
func codeOf(err error) int {
	if err == nil {
		return directory.ResultSuccess
	}
	return directory.AsResult(err).Code
}
