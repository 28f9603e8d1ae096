package rpch

import (
	"encoding/binary"
	"fmt"

	"github.com/exsim/exsim/internal/dcerpc"
)

// RTS PDU flags (MS-RPCH section 2.2.3.6.1).
const (
	flagNone     = 0x0000
	flagPing     = 0x0001
	flagOtherCmd = 0x0002
)

// RTS command types (MS-RPCH section 2.2.3.5).
const (
	cmdReceiveWindowSize = 0
	cmdFlowControlAck    = 1
	cmdConnectionTimeout = 2
	cmdCookie            = 3
	cmdChannelLifetime   = 4
	cmdClientKeepalive   = 5
	cmdVersion           = 6
	cmdEmpty             = 7
	cmdPadding           = 8
	cmdNegativeANCE      = 9
	cmdANCE              = 10
	cmdClientAddress     = 11
	cmdAssociationGroup  = 12
	cmdDestination       = 13
	cmdPingTrafficSent   = 14
)

// command is one parsed RTS command; only the fields of its type are set.
type command struct {
	typ    uint32
	value  uint32   // ReceiveWindowSize, ConnectionTimeout, ChannelLifetime, ClientKeepalive, Version, Destination...
	cookie [16]byte // Cookie, AssociationGroupId, FlowControlAck's ChannelCookie
	bytes  uint32   // FlowControlAck's BytesReceived (value holds AvailableWindow)
}

// rts is a parsed RTS PDU.
type rts struct {
	flags uint16
	cmds  []command
}

// parseRTS parses an RTS PDU (MS-RPCH section 2.2.3.6).
func parseRTS(pdu []byte) (rts, error) {
	if len(pdu) < 20 || dcerpc.Type(pdu) != dcerpc.PtypeRTS {
		return rts{}, fmt.Errorf("rpch: not an RTS PDU")
	}
	p := rts{flags: binary.LittleEndian.Uint16(pdu[16:])}
	n := int(binary.LittleEndian.Uint16(pdu[18:]))
	b := pdu[20:]
	for range n {
		if len(b) < 4 {
			return p, fmt.Errorf("rpch: RTS PDU cut short")
		}
		c := command{typ: binary.LittleEndian.Uint32(b)}
		b = b[4:]
		size := 0
		switch c.typ {
		case cmdReceiveWindowSize, cmdConnectionTimeout, cmdChannelLifetime, cmdClientKeepalive, cmdVersion,
			cmdDestination, cmdPingTrafficSent:
			size = 4
			if len(b) >= 4 {
				c.value = binary.LittleEndian.Uint32(b)
			}
		case cmdFlowControlAck:
			size = 24
			if len(b) >= 24 {
				c.bytes, c.value = binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
				copy(c.cookie[:], b[8:24])
			}
		case cmdCookie, cmdAssociationGroup:
			size = 16
			if len(b) >= 16 {
				copy(c.cookie[:], b)
			}
		case cmdEmpty, cmdNegativeANCE, cmdANCE:
		case cmdPadding:
			if len(b) >= 4 {
				size = 4 + int(binary.LittleEndian.Uint32(b))
			}
		case cmdClientAddress:
			size = 4 + 4 + 12
			if len(b) >= 4 && binary.LittleEndian.Uint32(b) == 1 { // IPv6
				size = 4 + 16 + 12
			}
		default:
			return p, fmt.Errorf("rpch: unknown RTS command %d", c.typ)
		}
		if len(b) < size {
			return p, fmt.Errorf("rpch: RTS command %d cut short", c.typ)
		}
		b = b[size:]
		p.cmds = append(p.cmds, c)
	}
	return p, nil
}

// expect checks that an RTS PDU has exactly the command types want.
func (p rts) expect(name string, want ...uint32) error {
	if len(p.cmds) != len(want) {
		return fmt.Errorf("rpch: %s with %d commands, want %d", name, len(p.cmds), len(want))
	}
	for i, t := range want {
		if p.cmds[i].typ != t {
			return fmt.Errorf("rpch: %s command %d is type %d, want %d", name, i, p.cmds[i].typ, t)
		}
	}
	return nil
}

// buildRTS builds an RTS PDU from commands.
func buildRTS(flags uint16, cmds ...command) []byte {
	p := dcerpc.NewHeader(dcerpc.PtypeRTS, 0x03, 0)
	p = binary.LittleEndian.AppendUint16(p, flags)
	p = binary.LittleEndian.AppendUint16(p, uint16(len(cmds)))
	for _, c := range cmds {
		p = binary.LittleEndian.AppendUint32(p, c.typ)
		switch c.typ {
		case cmdFlowControlAck:
			p = binary.LittleEndian.AppendUint32(p, c.bytes)
			p = binary.LittleEndian.AppendUint32(p, c.value)
			p = append(p, c.cookie[:]...)
		case cmdCookie, cmdAssociationGroup:
			p = append(p, c.cookie[:]...)
		default:
			p = binary.LittleEndian.AppendUint32(p, c.value)
		}
	}
	dcerpc.SetLengths(p, 0)
	return p
}
