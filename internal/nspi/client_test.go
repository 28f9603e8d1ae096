package nspi

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/exsim/exsim/internal/dcerpc"
)

// direct calls a Server without an RPC transport.
type direct struct{ s *Server }

func (d direct) Call(ctx context.Context, op uint16, stub []byte) ([]byte, error) {
	return d.s.call(ctx, op, stub)
}

// TestClientAgainstServer: the client's requests decode on the server and
// its answers decode on the client.
func TestClientAgainstServer(t *testing.T) {
	ctx := context.Background()
	c := direct{testServer()}
	h, err := Bind(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	st, err := UpdateStat(ctx, c, h)
	if err != nil || st.TotalRecs != 2 {
		t.Fatalf("UpdateStat = %+v, %v", st, err)
	}
	rows, err := QueryRows(ctx, c, h, 10, TagDisplayName, TagSMTPAddress, pidEmailAddress<<16|ptypString8, pidObjectType<<16|ptypInteger32)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"Alice Wood", "alice@contoso.com", "/o=Contoso/cn=alice", ""}, {"Bob Kelly", "bob@contoso.com", "/o=Contoso/cn=bob", ""}}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Fatalf("rows = %q, want %q", rows, want)
	}
	if err := Unbind(ctx, c, h); err != nil {
		t.Fatal(err)
	}
	if _, err := UpdateStat(ctx, c, h); !errors.Is(err, dcerpc.FaultContext) {
		t.Fatalf("UpdateStat after Unbind: %v, want the context fault", err)
	}
}

// TestClientRejectsBadAnswers: truncated or unknown answers are errors,
// not panics.
func TestClientRejectsBadAnswers(t *testing.T) {
	ctx := context.Background()
	for _, stub := range [][]byte{nil, make([]byte, 10), {1, 0, 0, 0}} {
		c := fixed(stub)
		if _, err := Bind(ctx, c); err == nil {
			t.Errorf("Bind accepted % x", stub)
		}
		if _, err := QueryRows(ctx, c, Handle{}, 1, TagDisplayName); err == nil {
			t.Errorf("QueryRows accepted % x", stub)
		}
	}
	// A binary column is not a string row.
	var w writer
	w.stat(Stat{})
	w.ptr()
	w.rows([][]value{{{tag: pidEntryID<<16 | ptypBinary, bin: []byte{1}}}})
	w.u32(0)
	if _, err := QueryRows(ctx, fixed(w.b), Handle{}, 1, pidEntryID<<16|ptypBinary); err == nil {
		t.Error("QueryRows decoded a binary column as a string")
	}
}

type fixed []byte

func (f fixed) Call(context.Context, uint16, []byte) ([]byte, error) { return f, nil }
