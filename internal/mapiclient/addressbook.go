package mapiclient

import (
	"context"
	"fmt"

	"github.com/exsim/exsim/internal/mapi"
)

// Entry is one address book entry ResolveNames found.
type Entry struct {
	DisplayName string
	Address     string // PidTagSmtpAddress
	DN          string // PidTagEmailAddress: the legacyExchangeDN
}

var entryColumns = []mapi.PropTag{mapi.PidTagDisplayName, mapi.PidTagSMTPAddress, mapi.PidTagEmailAddress}

// stat is the STAT of a client at the start of the Global Address List,
// Windows-1252 and US English.
func stat() *mapi.Stat {
	return &mapi.Stat{CodePage: 1252, TemplateLocale: 0x409, SortLocale: 0x409}
}

// bind is the NSPI Bind request type.
func (s *Session) bind(ctx context.Context) error {
	var r mapi.BindResponse
	if err := s.t.do(ctx, s.nspi, mapi.ReqBind, &mapi.BindRequest{State: stat()}, &r); err != nil {
		return err
	}
	if r.ErrorCode != mapi.Success {
		return fmt.Errorf("mapiclient: Bind: %w", r.ErrorCode)
	}
	return nil
}

// ResolveNames resolves names (addresses, aliases, display names) in the
// address book: one Entry per name, the zero Entry for a name that is
// unresolved or ambiguous.
func (s *Session) ResolveNames(ctx context.Context, names ...string) ([]Entry, error) {
	if err := s.overHTTP("ResolveNames"); err != nil {
		return nil, err
	}
	var r mapi.ResolveNamesResponse
	err := s.t.do(ctx, s.nspi, mapi.ReqResolveNames, &mapi.ResolveNamesRequest{State: stat(), Tags: entryColumns, Names: names}, &r)
	if err != nil {
		return nil, err
	}
	if r.ErrorCode != mapi.Success {
		return nil, fmt.Errorf("mapiclient: ResolveNames: %w", r.ErrorCode)
	}
	if len(r.MIDs) != len(names) {
		return nil, fmt.Errorf("mapiclient: ResolveNames: %d results for %d names", len(r.MIDs), len(names))
	}
	out := make([]Entry, len(names))
	next := 0
	for i, mid := range r.MIDs {
		if mid != mapi.MIDResolved {
			continue
		}
		if next >= len(r.Rows) {
			return nil, fmt.Errorf("mapiclient: ResolveNames: fewer rows than resolved names")
		}
		row := r.Rows[next]
		next++
		e := Entry{}
		for _, v := range row {
			switch v.Tag {
			case mapi.PidTagDisplayName:
				e.DisplayName = v.String()
			case mapi.PidTagSMTPAddress:
				e.Address = v.String()
			case mapi.PidTagEmailAddress:
				e.DN = v.String()
			}
		}
		out[i] = e
	}
	return out, nil
}
