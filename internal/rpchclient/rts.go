package rpchclient

import (
	"github.com/exsim/exsim/internal/dcerpc"
)

// cmd, cookieCmd and ackCmd are RTS commands (MS-RPCH section 2.2.3.5).
func cmd(typ, v uint32) dcerpc.RTSCommand { return dcerpc.RTSCommand{Type: typ, Value: v} }

func cookieCmd(typ uint32, cookie [16]byte) dcerpc.RTSCommand {
	return dcerpc.RTSCommand{Type: typ, Cookie: cookie}
}

func ackCmd(received, window uint32, cookie [16]byte) dcerpc.RTSCommand {
	return dcerpc.RTSCommand{Type: dcerpc.RTSFlowControlAck, Bytes: received, Value: window, Cookie: cookie}
}
