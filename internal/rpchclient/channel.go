// Package rpchclient is the client side of RPC over HTTP v2 (MS-RPCH), as
// Outlook Anywhere speaks it: an RPC_IN_DATA and an RPC_OUT_DATA request,
// each authenticated with NTLM on its own connection, joined into a
// virtual connection by CONN/A1, CONN/B1, CONN/A3 and CONN/C2, and then a
// DCE/RPC association over them (bind with NTLM at the connect level,
// AUTH3, requests and responses, with the flow control acknowledgements
// of the OUT channel). It knows no interface: callers encode the stubs
// (internal/nspi for the address book). It tests any RPC proxy that
// answers as MS-RPCH says, not only exsim's servers/httpd/rpch.
package rpchclient

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// channelLifetime is the Content-Length of both channel requests, as
// Windows' RPC runtime sends it (MS-RPCH section 3.2.2.5.1 leaves the value
// to the client; Outlook sends 1 GB).
const channelLifetime = 1 << 30

// ChannelError is a channel request the proxy refused.
type ChannelError struct {
	Method string   // RPC_IN_DATA or RPC_OUT_DATA
	Status string   // the HTTP status line's code and reason
	Auth   []string // the WWW-Authenticate values
}

func (e *ChannelError) Error() string {
	s := fmt.Sprintf("rpchclient: %s answered %s", e.Method, e.Status)
	if strings.HasPrefix(e.Status, "401") {
		s += " (the credentials were refused; offered " + strings.Join(e.Auth, ", ") + ")"
	}
	return s
}

// channel is one HTTP request of the virtual connection on its own
// connection.
type channel struct {
	conn net.Conn
	br   *bufio.Reader
}

// openChannel sends method with NTLM: a NEGOTIATE on an empty request,
// then the AUTHENTICATE on the request whose body is the channel
// (Content-Length channelLifetime for RPC_IN_DATA, len(first) for
// RPC_OUT_DATA, whose body is CONN/A1 alone). The caller reads the answer
// of RPC_OUT_DATA; RPC_IN_DATA is answered only when it ends.
func openChannel(conn net.Conn, o *Options, method, target string, length int, first []byte) (*channel, error) {
	ch := &channel{conn: conn, br: bufio.NewReader(conn)}
	neg, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		return nil, err
	}
	if err := ch.writeHeader(o, method, target, 0, "NTLM "+base64.StdEncoding.EncodeToString(neg)); err != nil {
		return nil, err
	}
	resp, err := ch.readResponse(method)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var challenge []byte
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if tok, ok := strings.CutPrefix(v, "NTLM "); ok {
			challenge, err = base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
			if err != nil {
				return nil, fmt.Errorf("rpchclient: %s: bad NTLM challenge: %w", method, err)
			}
		}
	}
	if resp.StatusCode != http.StatusUnauthorized || challenge == nil {
		return nil, &ChannelError{Method: method, Status: resp.Status, Auth: resp.Header.Values("WWW-Authenticate")}
	}
	auth, err := ntlmssp.NewAuthenticateMessage(challenge, o.User, o.Password, nil)
	if err != nil {
		return nil, fmt.Errorf("rpchclient: %s: %w", method, err)
	}
	if err := ch.writeHeader(o, method, target, length, "NTLM "+base64.StdEncoding.EncodeToString(auth)); err != nil {
		return nil, err
	}
	if _, err := conn.Write(first); err != nil {
		return nil, fmt.Errorf("rpchclient: %s: %w", method, err)
	}
	return ch, nil
}

// writeHeader sends a request head as Windows' RPC runtime does
// (MS-RPCH section 2.1.2.1.1 and 2.1.2.1.2).
func (ch *channel) writeHeader(o *Options, method, target string, length int, auth string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nAccept: application/rpc\r\nUser-Agent: MSRPC\r\n", method, target, o.Host)
	fmt.Fprintf(&b, "Cache-Control: no-cache\r\nPragma: no-cache\r\nConnection: Keep-Alive\r\nContent-Length: %d\r\nAuthorization: %s\r\n\r\n", length, auth)
	if _, err := io.WriteString(ch.conn, b.String()); err != nil {
		return fmt.Errorf("rpchclient: %s: %w", method, err)
	}
	return nil
}

func (ch *channel) readResponse(method string) (*http.Response, error) {
	resp, err := http.ReadResponse(ch.br, &http.Request{Method: method})
	if err != nil {
		return nil, fmt.Errorf("rpchclient: %s: no HTTP answer: %w", method, err)
	}
	return resp, nil
}

// Options say where and as whom to connect.
type Options struct {
	// Dial opens a connection to the RPC proxy, TLS already negotiated;
	// each channel dials once.
	Dial func(ctx context.Context) (net.Conn, error)
	// Host is the Host header (the proxy's name, with the port when not 443).
	Host string
	// Server and Port are the RPC server of the query
	// (/rpc/rpcproxy.dll?Server:Port): the mailbox server's name, 6004
	// for the address book.
	Server string
	Port   int
	// User (UPN or DOMAIN\user) and Password authenticate the channels
	// and the bind.
	User, Password string
}

func (o *Options) target() string {
	return "/rpc/rpcproxy.dll?" + o.Server + ":" + strconv.Itoa(o.Port)
}

var errClosed = errors.New("rpchclient: connection closed")
