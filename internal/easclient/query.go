package easclient

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
)

// params are a command's URI parameters (MS-ASHTTP 2.2.1.1.1.2.5).
type params struct {
	collectionID, itemID string
	saveInSent           bool
	acceptMultiPart      bool
}

// commandCodes are the base64 query's command codes (MS-ASHTTP 2.2.1.1.1.1.2).
var commandCodes = map[string]byte{
	"Sync": 0, "SendMail": 1, "SmartForward": 2, "SmartReply": 3, "GetAttachment": 4, "FolderSync": 9,
	"FolderCreate": 10, "FolderDelete": 11, "FolderUpdate": 12, "MoveItems": 13, "GetItemEstimate": 14,
	"MeetingResponse": 15, "Search": 16, "Settings": 17, "Ping": 18, "ItemOperations": 19, "Provision": 20,
	"ResolveRecipients": 21, "ValidateCert": 22, "Find": 23,
}

// requestURL is the command's URL in the plain or base64 form.
func (c *Client) requestURL(cmd, policyKey string, p params) (string, error) {
	if !c.Base64Query {
		q := url.Values{"Cmd": {cmd}, "User": {c.User}, "DeviceId": {c.DeviceID}, "DeviceType": {c.DeviceType}}
		return c.URL + "?" + q.Encode(), nil
	}
	ver, err := strconv.ParseFloat(c.version(), 64)
	if err != nil {
		return "", fmt.Errorf("activesync: version %q: %w", c.version(), err)
	}
	if len(c.DeviceID) > 16 || len(c.DeviceType) > 16 {
		return "", errors.New("activesync: the base64 query holds device ids and types of at most 16 bytes")
	}
	b := []byte{byte(ver*10 + 0.5), commandCodes[cmd]}
	b = binary.LittleEndian.AppendUint16(b, 0x0409) // en-US
	b = append(append(b, byte(len(c.DeviceID))), c.DeviceID...)
	if n, err := strconv.ParseUint(policyKey, 10, 32); err == nil && n != 0 {
		b = binary.LittleEndian.AppendUint32(append(b, 4), uint32(n))
	} else {
		b = append(b, 0)
	}
	b = append(append(b, byte(len(c.DeviceType))), c.DeviceType...)
	param := func(tag byte, v string) {
		if v != "" && len(v) < 256 {
			b = append(append(b, tag, byte(len(v))), v...)
		}
	}
	param(1, p.collectionID)
	param(3, p.itemID)
	var opts byte
	if p.saveInSent {
		opts |= 0x01
	}
	if p.acceptMultiPart {
		opts |= 0x02
	}
	if opts != 0 {
		b = append(b, 7, 1, opts)
	}
	param(8, c.User)
	return c.URL + "?" + base64.StdEncoding.EncodeToString(b), nil
}

// splitMultipart reads a multipart answer (MS-ASCMD 2.2.2.9.1).
func splitMultipart(b []byte) ([][]byte, error) {
	if len(b) < 4 {
		return nil, errors.New("multipart answer too short")
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 1 || n > (len(b)-4)/8 {
		return nil, fmt.Errorf("multipart answer with %d parts", n)
	}
	parts := make([][]byte, n)
	for i := range parts {
		off := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		l := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		if off < 0 || l < 0 || off > len(b) || l > len(b)-off {
			return nil, fmt.Errorf("multipart part %d out of range", i)
		}
		parts[i] = b[off : off+l]
	}
	return parts, nil
}
