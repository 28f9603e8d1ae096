package smtpd

import (
	"strconv"
	"strings"
	"time"
)

// Reply is one SMTP reply: a code, an RFC 3463 enhanced status code and
// Exchange's text. Text lines separated by "\n" become a multi-line reply
// (RFC 5321 section 4.2.1). A *Reply is an error, so a Backend returns it to
// have the server send it exactly.
type Reply struct {
	Code     int
	Enhanced string // "5.7.54"; "" for replies without one (220 banner, 354)
	Text     string
}

// Error formats the reply as it appears on the wire, lines joined by "\n".
func (r *Reply) Error() string {
	var b strings.Builder
	for i, line := range r.lines() {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strconv.Itoa(r.Code))
		b.WriteByte(' ')
		if r.Enhanced != "" {
			b.WriteString(r.Enhanced)
			b.WriteByte(' ')
		}
		b.WriteString(line)
	}
	return b.String()
}

// Temporary reports a 4xx reply.
func (r *Reply) Temporary() bool { return r.Code >= 400 && r.Code < 500 }

// Permanent reports a 5xx reply.
func (r *Reply) Permanent() bool { return r.Code >= 500 }

func (r *Reply) lines() []string {
	if !strings.Contains(r.Text, "\n") {
		return []string{r.Text}
	}
	return strings.Split(r.Text, "\n")
}

// Every reply text of EXCHANGE.md section 2, in one place (shared values:
// send them, never modify them). Replies marked
// "exsim" have no documented Exchange text; their wording is ours.
var (
	// Connection and session.
	ReplyTLSReady              = &Reply{220, "2.0.0", "SMTP server ready"}
	ReplyClosing               = &Reply{221, "2.0.0", "Service closing transmission channel"}
	ReplyServiceNotAvailable   = &Reply{421, "4.3.2", "Service not available"}
	ReplyTooManyConnections    = &Reply{421, "4.3.2", "The maximum number of concurrent server connections has exceeded a limit, closing transmission channel"}
	ReplyTooManySourceConns    = &Reply{421, "4.3.2", "The maximum number of concurrent connections has exceeded a limit, closing transmission channel"}
	ReplyTooManyErrors         = &Reply{421, "4.7.0", "Too many errors on this connection, closing transmission channel"}
	ReplyConnectionTimedOut    = &Reply{421, "4.4.1", "Connection timed out"} // Exchange ConnectionTimeout
	ReplyInactivityTimeout     = &Reply{451, "4.7.0", "Timeout waiting for client input"}
	ReplyInsufficientResources = &Reply{452, "4.3.1", "Insufficient system resources"}
	ReplyMessageRateExceeded   = &Reply{421, "4.4.2", "Message submission rate for this client has exceeded the configured limit"} // MessageRateLimit
	ReplyTemporaryServerError  = &Reply{451, "4.7.0", "Temporary server error. Please try again later"}                            // a Backend error that is not a *Reply

	// Commands.
	ReplyOK                = &Reply{250, "2.0.0", "OK"}
	ReplyResetting         = &Reply{250, "2.0.0", "Resetting"}
	ReplySenderOK          = &Reply{250, "2.1.0", "Sender OK"}
	ReplyRecipientOK       = &Reply{250, "2.1.5", "Recipient OK"}
	ReplyCannotVRFY        = &Reply{252, "2.1.5", "Cannot VRFY user"}
	ReplyStartMailInput    = &Reply{354, "", "Start mail input; end with <CRLF>.<CRLF>"}
	ReplyQueuedNoID        = &Reply{250, "2.6.0", "Queued mail for delivery"} // a Backend that returns no reply
	ReplyHelp              = &Reply{214, "", "This server supports the following commands:\nHELO EHLO STARTTLS RCPT DATA RSET MAIL QUIT HELP AUTH BDAT"}
	ReplyTooManyRecipients = &Reply{452, "4.5.3", "Too many recipients"}

	// Syntax and sequence (each counts toward MaxProtocolErrors).
	ReplyUnrecognizedCommand = &Reply{500, "5.3.3", "Unrecognized command"}
	ReplySendHelloFirst      = &Reply{503, "5.5.2", "Send hello first"}
	ReplyBadSequence         = &Reply{503, "5.5.1", "Bad sequence of commands"}
	ReplyInvalidAddress      = &Reply{501, "5.1.7", "Invalid address"}
	ReplyInvalidDomain       = &Reply{501, "5.5.4", "Invalid domain name"}
	ReplyInvalidArguments    = &Reply{501, "5.5.4", "Invalid arguments"}  // exsim: malformed parameter value, BDAT size
	ReplyUnsupportedOption   = &Reply{555, "5.5.4", "Unsupported option"} // RFC 5321 4.1.1.11: unknown MAIL/RCPT parameter

	// Authentication (RFC 4954).
	ReplyAuthSuccessful       = &Reply{235, "2.7.0", "Authentication successful"}
	ReplyAuthUnsuccessful     = &Reply{535, "5.7.3", "Authentication unsuccessful"}
	ReplyAuthUnrecognized     = &Reply{504, "5.7.4", "Unrecognized authentication type"}
	ReplyMustIssueSTARTTLS    = &Reply{530, "5.7.0", "Must issue a STARTTLS command first"}
	ReplyAuthCancelled        = &Reply{501, "5.0.0", "Authentication cancelled"}                                  // exsim, RFC 4954 section 4
	ReplyAuthBadBase64        = &Reply{501, "5.5.2", "Cannot Base64-decode Client responses"}                     // exsim, RFC 4954 section 4
	ReplyAlreadyAuthenticated = ReplyBadSequence                                                                  // RFC 4954 section 4: AUTH twice
	ReplyNotAuthenticated     = &Reply{530, "5.7.1", "Client was not authenticated"}                              // for the Backend
	ReplyNoPermission         = &Reply{550, "5.7.1", "Client does not have permissions to submit to this server"} // for the Backend

	// Recipients and messages (for the Backend).
	ReplyRelayDenied        = &Reply{550, "5.7.54", "SMTP; Unable to relay recipient in non-accepted domain"}
	ReplyUserUnknown        = &Reply{550, "5.1.1", "User unknown"} // Edge recipient filter
	ReplyRecipientNotFound  = &Reply{550, "5.1.10", "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"}
	ReplyMessageTooLarge    = &Reply{552, "5.3.4", "Message size exceeds fixed maximum message size"}
	ReplyHeaderTooLarge     = &Reply{552, "5.3.4", "Header size exceeds fixed maximum size"}
	ReplyHopCount           = &Reply{554, "5.4.6", "Hop count exceeded - possible mail loop"}
	ReplyDNSQueryFailed     = &Reply{451, "4.4.0", "DNS query failed"} // queue LastError
	ReplyBinaryMIMEWithDATA = ReplyBadSequence                         // RFC 3030 section 3: BODY=BINARYMIME needs BDAT
)

// PrimaryTargetFailed is the queue LastError Exchange shows when the next hop
// answered with reply (EXCHANGE.md section 2).
func PrimaryTargetFailed(reply string) *Reply {
	return &Reply{451, "4.4.0", `Primary target IP address responded with: "` + reply + `." Attempted failover to alternate host, but that did not succeed.`}
}

// ChunkReceived is Exchange's reply to a BDAT chunk that is not the last:
// "250 2.6.0 CHUNK received OK, <n> octets".
func ChunkReceived(n int64) *Reply {
	return &Reply{250, "2.6.0", "CHUNK received OK, " + strconv.FormatInt(n, 10) + " octets"}
}

// Queued is the reply to an accepted message:
// 250 2.6.0 <message-id> [InternalId=<n>, Hostname=<fqdn>] <bytes> bytes in <s>, <rate> KB/sec Queued mail for delivery.
// messageID may be given with or without its angle brackets. Seconds and
// KB/sec have three decimals; an elapsed time under one millisecond counts as
// one millisecond for the rate, so the rate stays finite.
func Queued(messageID string, internalID int64, hostname string, size int64, elapsed time.Duration) *Reply {
	messageID = strings.TrimSuffix(strings.TrimPrefix(messageID, "<"), ">")
	secs := elapsed.Seconds()
	rateSecs := secs
	if rateSecs < 0.001 {
		rateSecs = 0.001
	}
	b := make([]byte, 0, 128+len(messageID)+len(hostname))
	b = append(b, '<')
	b = append(b, messageID...)
	b = append(b, "> [InternalId="...)
	b = strconv.AppendInt(b, internalID, 10)
	b = append(b, ", Hostname="...)
	b = append(b, hostname...)
	b = append(b, "] "...)
	b = strconv.AppendInt(b, size, 10)
	b = append(b, " bytes in "...)
	b = strconv.AppendFloat(b, secs, 'f', 3, 64)
	b = append(b, ", "...)
	b = strconv.AppendFloat(b, float64(size)/1024/rateSecs, 'f', 3, 64)
	b = append(b, " KB/sec Queued mail for delivery"...)
	return &Reply{250, "2.6.0", string(b)}
}
