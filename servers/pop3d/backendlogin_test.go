package pop3d

import (
	"bufio"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
)

// TestBackendLogin plays scripted backends to the frontend's logon client
// and checks what it sends.
func TestBackendLogin(t *testing.T) {
	capaSASL := "+OK\r\nTOP\r\nSASL NTLM PLAIN\r\nUSER\r\n.\r\n"
	tests := []struct {
		name     string
		password string
		answers  map[string]string // command (prefix) -> reply
		wantSent []string
		wantErr  bool
	}{
		{"auth plain with initial response", "pw",
			map[string]string{"CAPA": capaSASL, "AUTH PLAIN AGFsaWNlAHB3": "+OK User successfully logged on.\r\n"},
			[]string{"CAPA", "AUTH PLAIN AGFsaWNlAHB3"}, false},
		{"continuation for long credentials", strings.Repeat("x", 190),
			map[string]string{"CAPA": capaSASL, "AUTH PLAIN": "+ \r\n", "AGFsaWNl": "+OK\r\n"},
			[]string{"CAPA", "AUTH PLAIN", "AGFsaWNlAH" + "h4eHh4"}, false},
		{"user/pass when no SASL PLAIN", "pw",
			map[string]string{"CAPA": "+OK\r\nTOP\r\nSASL NTLM\r\nUSER\r\n.\r\n", "USER": "+OK\r\n", "PASS": "+OK\r\n"},
			[]string{"CAPA", "USER alice", "PASS pw"}, false},
		{"user/pass when CAPA is unknown", "pw",
			map[string]string{"CAPA": "-ERR unknown\r\n", "USER": "+OK\r\n", "PASS": "+OK\r\n"},
			[]string{"CAPA", "USER alice", "PASS pw"}, false},
		{"refused", "pw",
			map[string]string{"CAPA": capaSASL, "AUTH": "-ERR Logon failure: unknown user name or bad password.\r\n"},
			[]string{"CAPA", "AUTH PLAIN AGFsaWNlAHB3"}, true},
		{"neither plain nor user", "pw",
			map[string]string{"CAPA": "+OK\r\nTOP\r\n.\r\n"},
			[]string{"CAPA"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			sent := make(chan []string, 1)
			go func() {
				defer server.Close()
				var got []string
				defer func() { sent <- got }()
				r := bufio.NewReader(server)
				if _, err := server.Write([]byte("+OK The Microsoft Exchange POP3 service is ready.\r\n")); err != nil {
					return
				}
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					line = strings.TrimSuffix(line, "\r\n")
					got = append(got, line)
					// The answer of the longest matching prefix.
					reply, best := "-ERR Protocol error. 14\r\n", -1
					for prefix, a := range tt.answers {
						if strings.HasPrefix(line, prefix) && len(prefix) > best {
							reply, best = a, len(prefix)
						}
					}
					if _, err := server.Write([]byte(reply)); err != nil {
						return
					}
				}
			}()
			err := backendLogin(client, bufio.NewReader(client), "alice", tt.password)
			client.Close()
			got := <-sent
			if (err != nil) != tt.wantErr {
				t.Errorf("backendLogin() = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr && err != nil && tt.name == "refused" && !errors.Is(err, errBackendRefused) {
				t.Errorf("backendLogin() = %v, want errBackendRefused", err)
			}
			for i := range got {
				if i < len(tt.wantSent) && strings.HasPrefix(tt.wantSent[i], "AGFsaWNl") {
					got[i] = got[i][:len(tt.wantSent[i])]
				}
			}
			if !slices.Equal(got, tt.wantSent) {
				t.Errorf("backendLogin sent %q, want %q", got, tt.wantSent)
			}
		})
	}
}
