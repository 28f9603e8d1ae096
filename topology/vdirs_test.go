package topology

import (
	"strings"
	"testing"
)

func TestVirtualDirectoriesValidate(t *testing.T) {
	for _, tt := range []struct {
		vdirs map[string]VirtualDirectory
		want  string // substring of the error; "" for none
	}{
		{map[string]VirtualDirectory{"ews": {InternalURL: "https://ex01.contoso.com/EWS/Exchange.asmx", ExternalURL: "https://mail.contoso.com/EWS/Exchange.asmx"}}, ""},
		{map[string]VirtualDirectory{"ews": {ExternalURL: "http://mail.contoso.com/EWS/Exchange.asmx"}}, "virtual_directories.ews.external_url"},
		{map[string]VirtualDirectory{"gopher": {}}, "unknown virtual directory"},
	} {
		top, err := Builtin("contoso")
		if err != nil {
			t.Fatal(err)
		}
		top.Server("EX01").Mailbox.VirtualDirectories = tt.vdirs
		err = top.Validate()
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%v) = %v, want %q", tt.vdirs, err, tt.want)
		}
	}
}
