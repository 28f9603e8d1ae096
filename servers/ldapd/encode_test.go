package ldapd

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/exsim/exsim/store/directory"
	"github.com/exsim/exsim/store/directory/directorytest"
)

// TestADWireEncoding compares a response with the bytes AD sends for a
// successful bind (message 1): 4-octet long-form lengths on constructed
// elements, short form on primitives.
func TestADWireEncoding(t *testing.T) {
	got := encodeResult(1, opBindResponse, directory.ResultSuccess, "", "")
	want, _ := hex.DecodeString("30840000001002010161840000000" + "70a010004000400")
	if !bytes.Equal(got, want) {
		t.Errorf("bind response = % x, want % x", got, want)
	}
}

// TestMarshalDecodes checks that every length form marshal writes decodes to
// the same element tree.
func TestMarshalDecodes(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 65535, 65536} {
		seq := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		seq.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, strings.Repeat("v", n), ""))
		seq.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 40, "high tag", ""))
		empty := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		seq.AppendChild(empty)
		raw := marshal(seq)
		p, err := ber.DecodePacketErr(raw)
		if err != nil {
			t.Fatalf("value of %d octets: decode(marshal) = %v", n, err)
		}
		if !bytes.Equal(p.Bytes(), seq.Bytes()) {
			t.Errorf("value of %d octets: decode(marshal) differs from the original", n)
		}
		if err := checkNesting(raw, maxNesting); err != nil {
			t.Errorf("value of %d octets: checkNesting(marshal) = %v", n, err)
		}
	}
	// The 4-octet primitive form, checked by its header alone.
	big := marshal(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, strings.Repeat("v", 1<<24), ""))
	if want := []byte{0x04, 0x84, 0x01, 0x00, 0x00, 0x00}; !bytes.Equal(big[:6], want) || len(big) != 6+1<<24 {
		t.Errorf("16 MiB value: header % x, length %d; want % x and %d", big[:6], len(big), want, 6+1<<24)
	}
}

// TestLargeValuesReachClients writes and reads back values whose lengths
// need each long form, with go-ldap's client.
func TestLargeValuesReachClients(t *testing.T) {
	ts := startServer(t, directorytest.Tree(t))
	c := bound(t, ts.dialPlain(t), directorytest.Writer)
	vals := []string{strings.Repeat("a", 200), strings.Repeat("b", 70000)}
	dn := "CN=large," + directorytest.Data
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"top"})
	add.Attribute("description", vals)
	if err := c.Add(add); err != nil {
		t.Fatalf("Add = %v", err)
	}
	res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, 0, 0, 0, false, "(objectClass=*)", []string{"description"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("Search = %v, %v", res, err)
	}
	got := res.Entries[0].GetAttributeValues("description")
	if len(got) != 2 || got[0] != vals[0] || got[1] != vals[1] {
		t.Errorf("description read back: %d values, want the 200- and 70000-octet ones", len(got))
	}
}
