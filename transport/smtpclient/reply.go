package smtpclient

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/emersion/go-smtp"
)

// Reply is an SMTP reply as a server gave it (or as exsim words a failure
// that had no reply).
type Reply struct {
	Code int    `json:"code"`
	Text string `json:"text"` // enhanced code and text, e.g. "2.1.5 Recipient OK"
}

func (r Reply) String() string { return strconv.Itoa(r.Code) + " " + r.Text }

// Permanent reports a 5xx reply.
func (r Reply) Permanent() bool { return r.Code >= 500 }

// OK reports a 2xx reply.
func (r Reply) OK() bool { return r.Code >= 200 && r.Code < 300 }

// ReplyOf turns a go-smtp error into the reply it carried. An error that
// is not a reply, and 421 (the server is closing the transmission channel,
// RFC 5321 section 3.8), is a connection failure: it comes back as the
// error, and the session cannot be used any more.
func ReplyOf(err error) (Reply, error) {
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code == 421 {
		return Reply{}, err
	}
	return replyFrom(se), nil
}

func replyFrom(se *smtp.SMTPError) Reply {
	text := se.Message
	if se.EnhancedCode != smtp.NoEnhancedCode && se.EnhancedCode != (smtp.EnhancedCode{}) {
		text = fmt.Sprintf("%d.%d.%d %s", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	}
	return Reply{Code: se.Code, Text: text}
}

// ReplyText formats an error as the reply line it carried
// ("550 5.1.1 User unknown"), or the error text.
func ReplyText(err error) string {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return replyFrom(se).String()
	}
	var e *Error
	if errors.As(err, &e) && e.Reply != "" {
		return e.Reply
	}
	return err.Error()
}
