package senderrep_test

import (
	"reflect"
	"testing"

	"github.com/exsim/exsim/roles/senderrep"
	"github.com/exsim/exsim/topology"
)

func TestDefaultPortsAreExchanges(t *testing.T) {
	// sender-reputation-procedures.md and the seed's open proxy row.
	want := senderrep.PortTable{
		"socks4":       {1081, 1080},
		"socks5":       {1081, 1080},
		"wingate":      {23},
		"telnet":       {23},
		"cisco":        {23},
		"http-connect": {6588, 3128, 80},
		"http-post":    {6588, 3128, 80},
	}
	if got := senderrep.DefaultPorts(); !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultPorts() = %v, want %v", got, want)
	}
	if err := senderrep.DefaultPorts().Validate(); err != nil {
		t.Errorf("DefaultPorts().Validate() = %v", err)
	}
}

func TestLabPorts(t *testing.T) {
	top, err := topology.Builtin("contoso")
	if err != nil {
		t.Fatal(err)
	}
	if err := top.SetPortOffset(10000); err != nil {
		t.Fatal(err)
	}
	got := senderrep.LabPorts(top)
	if p := got[senderrep.HTTPPost]; !reflect.DeepEqual(p, []uint16{16588, 13128, 10080}) {
		t.Errorf("LabPorts(offset 10000)[http-post] = %v, want [16588 13128 10080]", p)
	}
	if def := senderrep.DefaultPorts()[senderrep.Wingate][0]; def != 23 {
		t.Errorf("LabPorts changed the defaults: wingate %d", def)
	}
	// An offset that moves a port past 65535 never reaches the table: the
	// topology refuses it.
	if err := top.SetPortOffset(60000); err == nil {
		t.Error("SetPortOffset(60000) = nil error, want out of range")
	}
	if p := senderrep.LabPorts(top)[senderrep.SOCKS5]; !reflect.DeepEqual(p, []uint16{11081, 11080}) {
		t.Errorf("after a refused offset LabPorts[socks5] = %v, want [11081 11080]", p)
	}
}

func TestParseProxyType(t *testing.T) {
	tests := []struct {
		in   string
		want senderrep.ProxyType
		ok   bool
	}{
		{"Socks5", senderrep.ProxySOCKS5, true},
		{"socks4", senderrep.ProxySOCKS4, true},
		{"HttpConnect", senderrep.ProxyHTTPConnect, true},
		{"http", senderrep.ProxyHTTPConnect, true},
		{"HttpPost", "", false},
		{"None", "", false},
	}
	for _, tt := range tests {
		got, err := senderrep.ParseProxyType(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseProxyType(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
