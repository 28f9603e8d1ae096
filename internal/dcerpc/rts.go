package dcerpc

// The RTS PDUs of RPC over HTTP v2 (MS-RPCH section 2.2.3.6), which both
// the server (servers/httpd/rpch) and the client (internal/rpchclient)
// build and parse.

import (
	"encoding/binary"
	"fmt"
)

// RTS PDU flags (MS-RPCH section 2.2.3.6.1).
const (
	RTSFlagNone     = 0x0000
	RTSFlagPing     = 0x0001
	RTSFlagOtherCmd = 0x0002
)

// RTS command types (MS-RPCH section 2.2.3.5) and the Destination of a
// client's FlowControlAck for the OUT channel (FDOutProxy, 2.2.3.3).
const (
	RTSReceiveWindowSize = 0
	RTSFlowControlAck    = 1
	RTSConnectionTimeout = 2
	RTSCookie            = 3
	RTSChannelLifetime   = 4
	RTSClientKeepalive   = 5
	RTSVersion           = 6
	RTSEmpty             = 7
	RTSPadding           = 8
	RTSNegativeANCE      = 9
	RTSANCE              = 10
	RTSClientAddress     = 11
	RTSAssociationGroup  = 12
	RTSDestination       = 13
	RTSPingTrafficSent   = 14

	RTSFDOutProxy = 3
)

// RTSCommand is one RTS command; only the fields of its type are set.
type RTSCommand struct {
	Type   uint32
	Value  uint32   // ReceiveWindowSize, ConnectionTimeout, ChannelLifetime, ClientKeepalive, Version, Destination...
	Cookie [16]byte // Cookie, AssociationGroupId, FlowControlAck's ChannelCookie
	Bytes  uint32   // FlowControlAck's BytesReceived (Value holds AvailableWindow)
}

// RTS is a parsed RTS PDU.
type RTS struct {
	Flags uint16
	Cmds  []RTSCommand
}

// ParseRTS parses an RTS PDU (MS-RPCH section 2.2.3.6).
func ParseRTS(pdu []byte) (RTS, error) {
	if len(pdu) < 20 || Type(pdu) != PtypeRTS {
		return RTS{}, fmt.Errorf("dcerpc: not an RTS PDU")
	}
	p := RTS{Flags: binary.LittleEndian.Uint16(pdu[16:])}
	n := int(binary.LittleEndian.Uint16(pdu[18:]))
	b := pdu[20:]
	for range n {
		if len(b) < 4 {
			return p, fmt.Errorf("dcerpc: RTS PDU cut short")
		}
		c := RTSCommand{Type: binary.LittleEndian.Uint32(b)}
		b = b[4:]
		size := 0
		switch c.Type {
		case RTSReceiveWindowSize, RTSConnectionTimeout, RTSChannelLifetime, RTSClientKeepalive, RTSVersion,
			RTSDestination, RTSPingTrafficSent:
			size = 4
			if len(b) >= 4 {
				c.Value = binary.LittleEndian.Uint32(b)
			}
		case RTSFlowControlAck:
			size = 24
			if len(b) >= 24 {
				c.Bytes, c.Value = binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
				copy(c.Cookie[:], b[8:24])
			}
		case RTSCookie, RTSAssociationGroup:
			size = 16
			if len(b) >= 16 {
				copy(c.Cookie[:], b)
			}
		case RTSEmpty, RTSNegativeANCE, RTSANCE:
		case RTSPadding:
			if len(b) >= 4 {
				size = 4 + int(binary.LittleEndian.Uint32(b))
			}
		case RTSClientAddress:
			size = 4 + 4 + 12
			if len(b) >= 4 && binary.LittleEndian.Uint32(b) == 1 { // IPv6
				size = 4 + 16 + 12
			}
		default:
			return p, fmt.Errorf("dcerpc: unknown RTS command %d", c.Type)
		}
		if len(b) < size {
			return p, fmt.Errorf("dcerpc: RTS command %d cut short", c.Type)
		}
		b = b[size:]
		p.Cmds = append(p.Cmds, c)
	}
	return p, nil
}

// Value is the Value of the first command of a type.
func (p RTS) Value(typ uint32) (uint32, bool) {
	for _, c := range p.Cmds {
		if c.Type == typ {
			return c.Value, true
		}
	}
	return 0, false
}

// Expect checks that an RTS PDU has exactly the command types want.
func (p RTS) Expect(name string, want ...uint32) error {
	if len(p.Cmds) != len(want) {
		return fmt.Errorf("dcerpc: %s with %d commands, want %d", name, len(p.Cmds), len(want))
	}
	for i, t := range want {
		if p.Cmds[i].Type != t {
			return fmt.Errorf("dcerpc: %s command %d is type %d, want %d", name, i, p.Cmds[i].Type, t)
		}
	}
	return nil
}

// BuildRTS builds an RTS PDU from commands.
func BuildRTS(flags uint16, cmds ...RTSCommand) []byte {
	p := NewHeader(PtypeRTS, 0x03, 0)
	p = binary.LittleEndian.AppendUint16(p, flags)
	p = binary.LittleEndian.AppendUint16(p, uint16(len(cmds)))
	for _, c := range cmds {
		p = binary.LittleEndian.AppendUint32(p, c.Type)
		switch c.Type {
		case RTSFlowControlAck:
			p = binary.LittleEndian.AppendUint32(p, c.Bytes)
			p = binary.LittleEndian.AppendUint32(p, c.Value)
			p = append(p, c.Cookie[:]...)
		case RTSCookie, RTSAssociationGroup:
			p = append(p, c.Cookie[:]...)
		case RTSEmpty, RTSNegativeANCE, RTSANCE:
		default:
			p = binary.LittleEndian.AppendUint32(p, c.Value)
		}
	}
	SetLengths(p, 0)
	return p
}
