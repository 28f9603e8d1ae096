//go:build linux

package lab

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Apply programs the ruleset into the network namespace nsFd (-1: the
// calling thread's) over netlink, as one transaction that replaces the
// "inet exsim" table. It needs no nft binary: the firewall container is a
// scratch image. The expressions are the ones nft compiles the text of
// WriteNft into (nft --debug=netlink), so `nft list ruleset` shows the
// same lines either way.
func (rs *Ruleset) Apply(nsFd int) error {
	var opts []nftables.ConnOption
	if nsFd >= 0 {
		opts = append(opts, nftables.WithNetNSFd(nsFd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	table := &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
	// Add-then-delete-then-add in one batch: replaces an earlier table
	// atomically, and works when there is none.
	c.AddTable(table)
	c.DelTable(table)
	c.AddTable(table)
	policy := nftables.ChainPolicyDrop
	if rs.Open {
		policy = nftables.ChainPolicyAccept
	}
	chain := c.AddChain(&nftables.Chain{
		Name: ChainName, Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &policy,
	})
	add := func(exprs []expr.Any, comment string) {
		r := &nftables.Rule{Table: table, Chain: chain, Exprs: append(exprs, &expr.Verdict{Kind: expr.VerdictAccept})}
		if comment != "" {
			r.UserData = userdata.AppendString(nil, userdata.TypeComment, comment)
		}
		c.AddRule(r)
	}
	if !rs.Open {
		// ct state established,related
		add([]expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
				Xor:  binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		}, "")
		for _, t := range icmpEssentials {
			add(icmpMatch(unix.NFPROTO_IPV4, unix.IPPROTO_ICMP, t.num), "")
		}
		for _, t := range icmpv6Essentials {
			add(icmpMatch(unix.NFPROTO_IPV6, unix.IPPROTO_ICMPV6, t.num), "")
		}
	}
	for _, r := range rs.Rules {
		add(r.exprs(), r.Comment())
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: load table inet %s: %w", TableName, err)
	}
	return nil
}

// icmpMatch is "icmp type T" (or icmpv6) in an inet table.
func icmpMatch(nfproto, l4proto, typ byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{l4proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{typ}},
	}
}

// exprs is "ip saddr S ip daddr D [tcp|udp dport P]" in an inet table.
func (r Rule) exprs() []expr.Any {
	nfproto, saddrOff, daddrOff := byte(unix.NFPROTO_IPV4), uint32(12), uint32(16)
	src, dst := r.Src.AsSlice(), r.Dst.AsSlice()
	if r.Src.Is6() {
		nfproto, saddrOff, daddrOff = unix.NFPROTO_IPV6, 8, 24
	}
	out := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: saddrOff, Len: uint32(len(src))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: src},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: daddrOff, Len: uint32(len(dst))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dst},
	}
	if r.Transport == "" {
		return out
	}
	proto := byte(unix.IPPROTO_TCP)
	if r.Transport == "udp" {
		proto = unix.IPPROTO_UDP
	}
	return append(out,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(r.Port))},
	)
}
