package httpd

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// easRequest is what the request line and headers of an ActiveSync
// command say (MS-ASHTTP 2.2.1.1.1), from the plain text query
// (?Cmd=Sync&User=alice&DeviceId=...&DeviceType=...) with the
// MS-ASProtocolVersion and X-MS-PolicyKey headers, or from the base64
// encoded query, which carries all of them in one binary value.
type easRequest struct {
	Cmd        string
	User       string
	DeviceID   string
	DeviceType string
	Version    string // 14.1, 16.1...
	PolicyKey  string // "" when the client sent none
	Locale     uint16
	// Command parameters (MS-ASHTTP 2.2.1.1.1.1.3, 2.2.1.1.1.2.5).
	AttachmentName, CollectionID, ItemID, LongID, Occurrence string
	SaveInSent, AcceptMultiPart                              bool
}

// easCommandCodes are the command codes of the base64 query
// (MS-ASHTTP 2.2.1.1.1.1.2).
var easCommandCodes = map[byte]string{
	0: "Sync", 1: "SendMail", 2: "SmartForward", 3: "SmartReply", 4: "GetAttachment", 9: "FolderSync",
	10: "FolderCreate", 11: "FolderDelete", 12: "FolderUpdate", 13: "MoveItems", 14: "GetItemEstimate",
	15: "MeetingResponse", 16: "Search", 17: "Settings", 18: "Ping", 19: "ItemOperations", 20: "Provision",
	21: "ResolveRecipients", 22: "ValidateCert", 23: "Find",
}

// Options bits of the base64 query's Options parameter.
const (
	easOptSaveInSent      = 0x01
	easOptAcceptMultiPart = 0x02
)

// parseEASRequest reads the query in whichever form the client used.
func parseEASRequest(r *http.Request) (*easRequest, error) {
	raw := r.URL.RawQuery
	// The plain form always names Cmd; a base64 value is letters, digits,
	// +, / and = padding.
	if raw != "" && !strings.Contains(strings.ToLower(raw), "cmd=") {
		return parseEASBase64(raw)
	}
	q := r.URL.Query()
	er := &easRequest{
		Cmd: q.Get("Cmd"), User: q.Get("User"), DeviceID: q.Get("DeviceId"), DeviceType: q.Get("DeviceType"),
		Version: r.Header.Get("MS-ASProtocolVersion"), PolicyKey: r.Header.Get("X-MS-PolicyKey"),
		AttachmentName: q.Get("AttachmentName"), CollectionID: q.Get("CollectionId"), ItemID: q.Get("ItemId"),
		LongID: q.Get("LongId"), Occurrence: q.Get("Occurrence"),
		SaveInSent:      strings.EqualFold(q.Get("SaveInSent"), "T"),
		AcceptMultiPart: strings.EqualFold(r.Header.Get("MS-ASAcceptMultiPart"), "T"),
	}
	return er, er.check()
}

func (er *easRequest) check() error {
	switch {
	case er.Cmd == "":
		return errors.New("no Cmd")
	case er.DeviceID == "" || len(er.DeviceID) > 32:
		return errors.New("DeviceId missing or longer than 32 characters")
	case er.DeviceType == "" || len(er.DeviceType) > 32:
		return errors.New("DeviceType missing or longer than 32 characters")
	}
	return nil
}

// parseEASBase64 decodes the base64 encoded query value (MS-ASHTTP
// 2.2.1.1.1.1): protocol version, command code, locale, device id,
// policy key, device type and command parameters, each length-prefixed.
func parseEASBase64(raw string) (*easRequest, error) {
	s, err := urlUnescape(raw)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("base64 query: %v", err)
	}
	p := &byteReader{b: b}
	er := &easRequest{}
	ver := p.byte()
	er.Version = fmt.Sprintf("%d.%d", ver/10, ver%10)
	code := p.byte()
	cmd, ok := easCommandCodes[code]
	if !ok && p.err == nil {
		return nil, fmt.Errorf("base64 query: unknown command code %d", code)
	}
	er.Cmd = cmd
	er.Locale = binary.LittleEndian.Uint16(p.bytes(2))
	er.DeviceID = deviceIDString(p.bytes(int(p.byte())))
	if n := p.byte(); n == 4 {
		er.PolicyKey = strconv.FormatUint(uint64(binary.LittleEndian.Uint32(p.bytes(4))), 10)
	} else if n != 0 {
		return nil, fmt.Errorf("base64 query: policy key of %d bytes, want 0 or 4", n)
	}
	er.DeviceType = string(p.bytes(int(p.byte())))
	for p.err == nil && p.len() > 0 {
		tag := p.byte()
		val := p.bytes(int(p.byte()))
		switch tag {
		case 0:
			er.AttachmentName = string(val)
		case 1:
			er.CollectionID = string(val)
		case 3:
			er.ItemID = string(val)
		case 4:
			er.LongID = string(val)
		case 6:
			er.Occurrence = string(val)
		case 7:
			if len(val) == 1 {
				er.SaveInSent = val[0]&easOptSaveInSent != 0
				er.AcceptMultiPart = val[0]&easOptAcceptMultiPart != 0
			}
		case 8:
			er.User = string(val)
		}
	}
	if p.err != nil {
		return nil, fmt.Errorf("base64 query: %v", p.err)
	}
	return er, er.check()
}

// deviceIDString is the device id of the base64 query, up to 16 bytes:
// kept as sent when it is printable (what devices send), otherwise
// written in hex as Exchange shows binary device ids.
func deviceIDString(b []byte) string {
	for _, c := range b {
		if c <= ' ' || c > '~' {
			return strings.ToUpper(hex.EncodeToString(b))
		}
	}
	return string(b)
}

func urlUnescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	out, err := url.PathUnescape(s) // not QueryUnescape: "+" is a base64 digit here
	if err != nil {
		return "", fmt.Errorf("base64 query: %v", err)
	}
	return out, nil
}

// byteReader reads length-prefixed fields; the first short read sets err
// and every later read returns zeros.
type byteReader struct {
	b   []byte
	err error
}

func (p *byteReader) len() int { return len(p.b) }

func (p *byteReader) bytes(n int) []byte {
	if p.err != nil || n > len(p.b) {
		p.err = errors.New("truncated")
		return make([]byte, n)
	}
	out := p.b[:n]
	p.b = p.b[n:]
	return out
}

func (p *byteReader) byte() byte { return p.bytes(1)[0] }
