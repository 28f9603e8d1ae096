package roles

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/exsim/exsim/servers/smtpd"
)

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// smtpReply turns a go-smtp client error that carries a reply into an
// smtpd reply; 421 (the peer is closing) is not passed on as a reply.
func smtpReply(err error) (*smtpd.Reply, bool) {
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code == 421 {
		return nil, false
	}
	enh := ""
	if se.EnhancedCode != smtp.NoEnhancedCode && se.EnhancedCode != (smtp.EnhancedCode{}) {
		enh = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return &smtpd.Reply{Code: se.Code, Enhanced: enh, Text: se.Message}, true
}

// slogLogger adapts slog to the Printf/Println logger go-smtp's server wants.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Printf(format string, v ...any) { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s slogLogger) Println(v ...any)               { s.l.Warn(fmt.Sprint(v...)) }
