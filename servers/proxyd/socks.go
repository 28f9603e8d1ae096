package proxyd

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"

	"github.com/exsim/exsim/internal/socks"
)

// socksMaxField is the longest USERID or host name accepted.
const socksMaxField = 255

// socksError is a malformed or unsupported SOCKS request; rep is the RFC 1928
// reply code to answer with.
type socksError struct {
	rep byte
	msg string
}

func (e *socksError) Error() string { return "proxyd: socks: " + e.msg }

// socks4Request is a SOCKS4 or SOCKS4a request.
type socks4Request struct {
	cmd  byte
	port uint16
	ip   [4]byte
	user string
	host string // SOCKS4a host name, "" for plain SOCKS4
}

// dest is the host (address literal or name) to connect to.
func (r socks4Request) dest() string {
	if r.host != "" {
		return r.host
	}
	return netip.AddrFrom4(r.ip).String()
}

// readSOCKS4Request reads a SOCKS4 request, version byte included:
// VN CD DSTPORT(2) DSTIP(4) USERID NUL [HOST NUL].
func readSOCKS4Request(br *bufio.Reader) (socks4Request, error) {
	var hdr [8]byte
	v, err := br.ReadByte()
	if err != nil {
		return socks4Request{}, err
	}
	if v != socks.Version4 {
		return socks4Request{}, &socksError{msg: fmt.Sprintf("version %d", v)}
	}
	hdr[0] = v
	if _, err := io.ReadFull(br, hdr[1:]); err != nil {
		return socks4Request{}, err
	}
	r := socks4Request{cmd: hdr[1], port: binary.BigEndian.Uint16(hdr[2:4])}
	copy(r.ip[:], hdr[4:8])
	user, err := readNULString(br)
	if err != nil {
		return socks4Request{}, err
	}
	r.user = user
	// SOCKS4A: DSTIP 0.0.0.x with x != 0 announces a host name after USERID.
	if r.ip[0] == 0 && r.ip[1] == 0 && r.ip[2] == 0 && r.ip[3] != 0 {
		host, err := readNULString(br)
		if err != nil {
			return socks4Request{}, err
		}
		if host == "" {
			return socks4Request{}, &socksError{msg: "empty socks4a host name"}
		}
		r.host = host
	}
	if r.cmd != socks.CmdConnect {
		return r, &socksError{rep: socks.CmdNotSupported, msg: fmt.Sprintf("command %d", r.cmd)}
	}
	if r.port == 0 {
		return r, &socksError{msg: "port 0"}
	}
	return r, nil
}

// readNULString reads a NUL-terminated field of at most socksMaxField bytes.
func readNULString(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		c, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		if c == 0 {
			return string(b), nil
		}
		if len(b) == socksMaxField {
			return "", &socksError{msg: "field too long"}
		}
		b = append(b, c)
	}
}

// socks4Reply is the 8-byte reply: VN=0 CD DSTPORT DSTIP.
func socks4Reply(code byte) []byte {
	return []byte{0, code, 0, 0, 0, 0, 0, 0}
}

// readSOCKS5Greeting reads the version/method selection message of RFC 1928
// section 3 and returns the offered methods.
func readSOCKS5Greeting(br *bufio.Reader) ([]byte, error) {
	var hdr [2]byte
	v, err := br.ReadByte()
	if err != nil {
		return nil, err
	}
	if v != socks.Version5 {
		return nil, &socksError{rep: socks.GeneralFailure, msg: fmt.Sprintf("version %d", v)}
	}
	hdr[0] = v
	if hdr[1], err = br.ReadByte(); err != nil {
		return nil, err
	}
	if hdr[1] == 0 {
		return nil, &socksError{rep: socks.GeneralFailure, msg: "no methods offered"}
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return nil, err
	}
	return methods, nil
}

// socks5Request is a request of RFC 1928 section 4.
type socks5Request struct {
	cmd  byte
	host string // address literal or domain name
	port uint16
}

// readSOCKS5Request reads VER CMD RSV ATYP DST.ADDR DST.PORT. A socksError
// carries the reply code for the failure reply.
func readSOCKS5Request(br *bufio.Reader) (socks5Request, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return socks5Request{}, err
	}
	if hdr[0] != socks.Version5 {
		return socks5Request{}, &socksError{rep: socks.GeneralFailure, msg: fmt.Sprintf("version %d", hdr[0])}
	}
	r := socks5Request{cmd: hdr[1]}
	switch hdr[3] {
	case socks.AddrIPv4:
		var a [4]byte
		if _, err := io.ReadFull(br, a[:]); err != nil {
			return socks5Request{}, err
		}
		r.host = netip.AddrFrom4(a).String()
	case socks.AddrIPv6:
		var a [16]byte
		if _, err := io.ReadFull(br, a[:]); err != nil {
			return socks5Request{}, err
		}
		r.host = netip.AddrFrom16(a).Unmap().String()
	case socks.AddrDomain:
		n, err := br.ReadByte()
		if err != nil {
			return socks5Request{}, err
		}
		name := make([]byte, n)
		if _, err := io.ReadFull(br, name); err != nil {
			return socks5Request{}, err
		}
		if n == 0 {
			return socks5Request{}, &socksError{rep: socks.HostUnreachable, msg: "empty domain name"}
		}
		r.host = string(name)
	default:
		return socks5Request{}, &socksError{rep: socks.AddrNotSupported, msg: fmt.Sprintf("address type %d", hdr[3])}
	}
	var p [2]byte
	if _, err := io.ReadFull(br, p[:]); err != nil {
		return socks5Request{}, err
	}
	r.port = binary.BigEndian.Uint16(p[:])
	if r.cmd != socks.CmdConnect {
		return r, &socksError{rep: socks.CmdNotSupported, msg: fmt.Sprintf("command %d", r.cmd)}
	}
	if r.port == 0 {
		return r, &socksError{rep: socks.GeneralFailure, msg: "port 0"}
	}
	return r, nil
}

// socks5Reply is VER REP RSV ATYP BND.ADDR BND.PORT (RFC 1928 section 6).
func socks5Reply(rep byte, bound net.Addr) []byte {
	ap := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if ta, ok := bound.(*net.TCPAddr); ok {
		ap = ta.AddrPort()
	}
	return socks.Message(rep, ap)
}

// serveSOCKS serves SOCKS4, SOCKS4a and SOCKS5 on one listener.
func (s *Server) serveSOCKS(ss *session) error {
	v, err := ss.br.Peek(1)
	if err != nil {
		return err
	}
	switch v[0] {
	case socks.Version4:
		return s.serveSOCKS4Only(ss)
	case socks.Version5:
		return s.serveSOCKS5Only(ss)
	}
	ss.conn.Write(socks4Reply(socks.V4Rejected))
	return &socksError{msg: fmt.Sprintf("version %d", v[0])}
}

// serveSOCKS4Only serves SOCKS4 and SOCKS4a.
func (s *Server) serveSOCKS4Only(ss *session) error {
	r, err := readSOCKS4Request(ss.br)
	if err != nil {
		var se *socksError
		if errors.As(err, &se) {
			ss.conn.Write(socks4Reply(socks.V4Rejected))
		}
		return err
	}
	up, err := s.connect(ss, r.dest(), r.port)
	if err != nil {
		ss.conn.Write(socks4Reply(socks.V4Rejected))
		return err
	}
	reply := socks4Reply(socks.V4Granted)
	if ta, ok := up.RemoteAddr().(*net.TCPAddr); ok && ta.AddrPort().Addr().Unmap().Is4() {
		binary.BigEndian.PutUint16(reply[2:4], ta.AddrPort().Port())
		a := ta.AddrPort().Addr().Unmap().As4()
		copy(reply[4:8], a[:])
	}
	if _, err := ss.conn.Write(reply); err != nil {
		return err
	}
	return s.relay(ss, up)
}

// serveSOCKS5Only serves SOCKS5 with the "no authentication required" method.
func (s *Server) serveSOCKS5Only(ss *session) error {
	methods, err := readSOCKS5Greeting(ss.br)
	if err != nil {
		var se *socksError
		if errors.As(err, &se) {
			ss.conn.Write([]byte{socks.Version5, socks.NoAcceptable})
		}
		return err
	}
	noAuth := false
	for _, m := range methods {
		noAuth = noAuth || m == socks.NoAuth
	}
	if !noAuth {
		ss.conn.Write([]byte{socks.Version5, socks.NoAcceptable})
		return &socksError{msg: "no acceptable method"}
	}
	if _, err := ss.conn.Write([]byte{socks.Version5, socks.NoAuth}); err != nil {
		return err
	}
	r, err := readSOCKS5Request(ss.br)
	if err != nil {
		var se *socksError
		if errors.As(err, &se) {
			ss.conn.Write(socks5Reply(se.rep, nil))
		}
		return err
	}
	up, err := s.connect(ss, r.host, r.port)
	if err != nil {
		rep := failReplies[failureOf(err)].socks5
		ss.log.Debug("socks5 connect failed", "code", strconv.Itoa(int(rep)), "err", err)
		ss.conn.Write(socks5Reply(rep, nil))
		return err
	}
	if _, err := ss.conn.Write(socks5Reply(socks.Succeeded, up.LocalAddr())); err != nil {
		return err
	}
	return s.relay(ss, up)
}
