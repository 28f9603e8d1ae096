package smtpd

import (
	"strings"
)

// BodyType is the MAIL BODY= parameter (RFC 6152, RFC 3030).
type BodyType string

const (
	Body7Bit       BodyType = "7BIT"
	Body8BitMIME   BodyType = "8BITMIME"
	BodyBinaryMIME BodyType = "BINARYMIME"
)

// DSNReturn is the MAIL RET= parameter (RFC 3461 section 4.3).
type DSNReturn string

const (
	ReturnFull    DSNReturn = "FULL"
	ReturnHeaders DSNReturn = "HDRS"
)

// MailOptions are the parsed parameters of MAIL FROM.
type MailOptions struct {
	Size     int64     // SIZE= (RFC 1870); 0 when absent
	Body     BodyType  // BODY=; "" when absent (7BIT)
	SMTPUTF8 bool      // SMTPUTF8 (RFC 6531)
	RET      DSNReturn // RET= (RFC 3461); "" when absent
	EnvID    string    // ENVID=, xtext-decoded (RFC 3461)
	Auth     string    // AUTH= (RFC 4954 section 5), xtext-decoded; "<>" as sent
	Params   []Param   // every parameter as sent, in order
}

// Notify is the RCPT NOTIFY= set (RFC 3461 section 4.1); zero when absent.
type Notify uint8

const (
	NotifyNever Notify = 1 << iota
	NotifySuccess
	NotifyFailure
	NotifyDelay
)

func (n Notify) String() string {
	if n == 0 {
		return ""
	}
	if n&NotifyNever != 0 {
		return "NEVER"
	}
	var parts []string
	for _, f := range [...]struct {
		bit  Notify
		name string
	}{{NotifySuccess, "SUCCESS"}, {NotifyFailure, "FAILURE"}, {NotifyDelay, "DELAY"}} {
		if n&f.bit != 0 {
			parts = append(parts, f.name)
		}
	}
	return strings.Join(parts, ",")
}

// RcptOptions are the parsed parameters of RCPT TO.
type RcptOptions struct {
	Notify    Notify  // NOTIFY= (RFC 3461 section 4.1)
	ORCPTType string  // ORCPT= address type, lower-cased: "rfc822", "utf-8" (RFC 6533)
	ORCPT     string  // ORCPT= address, decoded
	Params    []Param // every parameter as sent, in order
}

// mailOptions validates MAIL parameters. An unknown parameter is
// 555 5.5.4 (RFC 5321 4.1.1.11); a known one with a bad value is 501 5.5.4.
func mailOptions(params []Param) (*MailOptions, *Reply) {
	o := &MailOptions{Params: params}
	for _, p := range params {
		switch p.Key {
		case "SIZE":
			n, ok := parseSize(p.Value)
			if !ok {
				return nil, ReplyInvalidArguments
			}
			o.Size = n
		case "BODY":
			b, ok := oneOf(p.Value, Body7Bit, Body8BitMIME, BodyBinaryMIME)
			if !ok {
				return nil, ReplyInvalidArguments
			}
			o.Body = b
		case "SMTPUTF8":
			if p.HasValue {
				return nil, ReplyInvalidArguments
			}
			o.SMTPUTF8 = true
		case "RET":
			r, ok := oneOf(p.Value, ReturnFull, ReturnHeaders)
			if !ok {
				return nil, ReplyInvalidArguments
			}
			o.RET = r
		case "ENVID":
			v, ok := decodeXtext(p.Value)
			if !ok || v == "" || len(v) > maxEnvID || !printableASCII(v) {
				return nil, ReplyInvalidArguments
			}
			o.EnvID = v
		case "AUTH":
			v, ok := decodeXtext(p.Value)
			if !ok || v == "" {
				return nil, ReplyInvalidArguments
			}
			o.Auth = v
		default:
			return nil, ReplyUnsupportedOption
		}
		if p.Key != "SMTPUTF8" && !p.HasValue {
			return nil, ReplyInvalidArguments
		}
	}
	return o, nil
}

// oneOf is the keyword v, matched without regard to case, among allowed.
func oneOf[T ~string](v string, allowed ...T) (T, bool) {
	for _, a := range allowed {
		if strings.EqualFold(v, string(a)) {
			return a, true
		}
	}
	return "", false
}

// rcptOptions validates RCPT parameters (RFC 3461 sections 4.1, 4.2).
func rcptOptions(params []Param, smtputf8 bool) (*RcptOptions, *Reply) {
	o := &RcptOptions{Params: params}
	for _, p := range params {
		if (p.Key == "NOTIFY" || p.Key == "ORCPT") && !p.HasValue {
			return nil, ReplyInvalidArguments
		}
		switch p.Key {
		case "NOTIFY":
			for _, v := range strings.Split(p.Value, ",") {
				var bit Notify
				switch strings.ToUpper(v) {
				case "NEVER":
					bit = NotifyNever
				case "SUCCESS":
					bit = NotifySuccess
				case "FAILURE":
					bit = NotifyFailure
				case "DELAY":
					bit = NotifyDelay
				default:
					return nil, ReplyInvalidArguments
				}
				if o.Notify&bit != 0 {
					return nil, ReplyInvalidArguments
				}
				o.Notify |= bit
			}
			if o.Notify&NotifyNever != 0 && o.Notify != NotifyNever {
				return nil, ReplyInvalidArguments // NEVER stands alone
			}
		case "ORCPT":
			typ, addr, ok := strings.Cut(p.Value, ";")
			if !ok || typ == "" || addr == "" || !validLdhStr([]byte(typ)) {
				return nil, ReplyInvalidArguments
			}
			v, ok := decodeXtext(addr)
			if !ok && !(smtputf8 && strings.EqualFold(typ, "utf-8")) {
				return nil, ReplyInvalidArguments
			}
			if !ok {
				v = addr // utf-8-addr-unitext (RFC 6533 section 3)
			}
			o.ORCPTType = strings.ToLower(typ)
			o.ORCPT = v
		default:
			return nil, ReplyUnsupportedOption
		}
	}
	return o, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 32 || s[i] > 126 {
			return false
		}
	}
	return true
}
