package roles

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/probe/rca"
	"github.com/exsim/exsim/topology"
)

// RCA implements the admin API: the Remote Connectivity Analyzer's tests
// run from req.FromServer's position (its address, the lab DNS as it asks
// it, this process's fault table), trusting the lab CA.
func (rt *Runtime) RCA(ctx context.Context, req control.RCARequest) (control.RCAResponse, error) {
	src, err := rt.serverOf(req.FromServer)
	if err != nil {
		return control.RCAResponse{}, err
	}
	tests, err := rca.Select(req.Tests)
	if err != nil {
		return control.RCAResponse{}, &control.BadInputError{Msg: err.Error()}
	}
	t := rt.o.Topology
	user, password, err := rcaUser(t, req.User, req.Password)
	if err != nil {
		return control.RCAResponse{}, err
	}
	env := &rca.Env{Dial: src.dialer.DialContext, Resolver: src.resolver(), Roots: rt.ca.Pool(), Port: t.Port, Helo: src.Config.FQDN}
	o := rca.Options{User: user, Password: password, Target: req.Target, Sender: rcaSender(t, src.Config), Timeout: req.Timeout}
	res := rca.Run(ctx, env, o, tests)
	b, err := json.Marshal(res)
	return control.RCAResponse{User: user, Results: b}, err
}

// rcaUser is the account the tests log on as: the one given (its password
// taken from the topology when none is given), or the first mailbox of an
// accepted domain.
func rcaUser(t *topology.Topology, user, password string) (string, string, error) {
	if user == "" {
		for _, m := range t.Mailboxes {
			if _, d, _ := strings.Cut(m.Address, "@"); slices.ContainsFunc(t.AcceptedDomains, func(a string) bool { return strings.EqualFold(a, d) }) {
				return m.Address, m.Password, nil
			}
		}
		return "", "", &control.BadInputError{Msg: "rca: the topology has no mailbox in an accepted domain; give --user and --password"}
	}
	if password == "" {
		m := LookupLogon(t, user)
		if m == nil {
			return "", "", &control.BadInputError{Msg: fmt.Sprintf("rca: %s is no mailbox of the topology; give --password", user)}
		}
		return m.Address, m.Password, nil
	}
	return user, password, nil
}

// rcaSender is the MAIL FROM of the Inbound SMTP test message: a mailbox
// of the source server (carol@fabrikam.com on INET01), else an address of
// the source's own domain.
func rcaSender(t *topology.Topology, src *topology.Server) string {
	for _, m := range t.Mailboxes {
		if strings.EqualFold(m.Server, src.Name) {
			return m.Address
		}
	}
	_, dom, _ := strings.Cut(src.FQDN, ".")
	return "RemoteConnectivityAnalyzer@" + dom
}
