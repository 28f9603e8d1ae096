package pop3d

import "errors"

// handler is one command: where it is valid, how many arguments it takes.
type handler struct {
	inAuthorization, inTransaction bool
	minArgs, maxArgs               int
	run                            func(ss *session, args []string) error
}

// lookup is the command table (RFC 1939 sections 4-7, RFC 2449 CAPA,
// RFC 2595 STLS, RFC 5034 AUTH). APOP is not offered, and so is unknown.
func lookup(name string) (handler, bool) {
	switch name {
	case "CAPA":
		return handler{true, true, 0, 0, (*session).cmdCapa}, true
	case "STLS":
		return handler{true, false, 0, 0, (*session).cmdStls}, true
	case "USER":
		return handler{true, false, 1, 1, (*session).cmdUser}, true
	case "PASS":
		return handler{true, false, 1, 1, (*session).cmdPass}, true
	case "AUTH":
		return handler{true, false, 1, 2, (*session).cmdAuth}, true
	case "QUIT":
		return handler{true, true, 0, 0, (*session).cmdQuit}, true
	case "STAT":
		return handler{false, true, 0, 0, (*session).cmdStat}, true
	case "LIST":
		return handler{false, true, 0, 1, (*session).cmdList}, true
	case "UIDL":
		return handler{false, true, 0, 1, (*session).cmdUidl}, true
	case "RETR":
		return handler{false, true, 1, 1, (*session).cmdRetr}, true
	case "TOP":
		return handler{false, true, 2, 2, (*session).cmdTop}, true
	case "DELE":
		return handler{false, true, 1, 1, (*session).cmdDele}, true
	case "RSET":
		return handler{false, true, 0, 0, (*session).cmdRset}, true
	case "NOOP":
		return handler{false, true, 0, 0, (*session).cmdNoop}, true
	}
	return handler{}, false
}

// dispatch parses and runs one command line. Unknown commands, commands out
// of state and malformed arguments are protocol errors (counted).
func (ss *session) dispatch(line string) error {
	cmd, err := parseCommand(line)
	if errors.Is(err, errUnknownCommand) {
		return ss.protocolError(ss.p.UnknownCommand)
	}
	h, ok := lookup(cmd.name)
	if !ok {
		return ss.protocolError(ss.p.UnknownCommand)
	}
	valid := (ss.state == stateAuthorization && h.inAuthorization) ||
		(ss.state == stateTransaction && h.inTransaction)
	if !valid {
		return ss.protocolError(ss.p.InvalidState)
	}
	if err != nil || len(cmd.args) < h.minArgs || len(cmd.args) > h.maxArgs {
		return ss.protocolError(ss.p.BadArguments)
	}
	return h.run(ss, cmd.args)
}
