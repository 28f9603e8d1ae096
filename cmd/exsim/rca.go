package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/probe/rca"
	"github.com/exsim/exsim/topology"
)

type rcaFlags struct {
	from, target, user, password, format, output string
	tests                                        []string
	timeout                                      time.Duration
}

func newRCACmd(g *globals) *cobra.Command {
	var f rcaFlags
	cmd := &cobra.Command{
		Use:   "rca",
		Short: "Run the Remote Connectivity Analyzer's Exchange tests from a server's position",
		Long: `Runs the Exchange tests of Microsoft's Remote Connectivity Analyzer (RCA), which
Microsoft runs only from its hosts on the internet, from any server of the lab: Inbound
and Outbound SMTP Email, Outlook and Exchange ActiveSync Autodiscover, Exchange Web
Services (synchronization, notification, availability, automatic replies), Outlook
Connectivity, Exchange ActiveSync, IMAP Email and POP Email. The source server's process
runs them from its own address through the lab DNS, trusting the lab CA, and prints
RCA's step list: resolve, connect, TLS certificate name and chain, authentication and
each protocol step, with the reason of the step that failed; a test stops at its first
failed step. Exit code 1 when a test fails.`,
		Example: `  exsim rca
  exsim rca --test ews --test imap
  exsim rca --from EX02 --target mail.contoso.com --format junit -o rca.xml
  exsim rca --user bob@contoso.com --password 'P@ssw0rd'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRCA(cmd.Context(), g, f) },
	}
	fl := cmd.Flags()
	g.serverFlag(cmd, "from", &f.from, "the server whose position runs the tests (default: the lab's internet server)")
	fl.StringVar(&f.target, "target", "", "the host every test connects to (default: the public names of the user's domain: MX, autodiscover., mail.)")
	fl.StringVar(&f.user, "user", "", "the mailbox to test (default: the first mailbox of an accepted domain)")
	fl.StringVar(&f.password, "password", "", "its password (default: the topology's, for a lab mailbox)")
	fl.StringSliceVar(&f.tests, "test", nil, "only these tests: "+strings.Join(rca.TestIDs(), ", "))
	completeWith(cmd, "test", func(*cobra.Command) []string { return rca.TestIDs() })
	formatFlag(cmd, &f.format, rca.Formats...)
	fl.StringVarP(&f.output, "output", "o", "", "write the report to a file (default: standard output)")
	fl.DurationVar(&f.timeout, "timeout", rca.DefaultTimeout, "per-test timeout")
	return cmd
}

func runRCA(ctx context.Context, g *globals, f rcaFlags) error {
	t, err := g.labTopology()
	if err != nil {
		return err
	}
	if f.from == "" {
		inet := t.ServersByRole(topology.RoleInternet)
		if len(inet) == 0 {
			return usageError("the topology has no internet server: name one with --from")
		}
		f.from = inet[0].Name
	}
	src := t.Server(f.from)
	if src == nil {
		return usageError("--from %s: no such server", f.from)
	}
	if _, err := rca.Select(f.tests); err != nil {
		return usageError("%v", err)
	}
	c, err := g.adminFor(src.Name)
	if err != nil {
		return err
	}
	resp, err := c.RCA(ctx, control.RCARequest{FromServer: src.Name, Target: f.target, User: f.user, Password: f.password, Tests: f.tests, Timeout: f.timeout})
	if err != nil {
		return adminError(fmt.Errorf("rca through the admin API of %s: %w", src.Name, err))
	}
	var rs []rca.Result
	if err := json.Unmarshal(resp.Results, &rs); err != nil {
		return fmt.Errorf("rca: %w", err)
	}
	w, _, done, err := openReport(g, f.format, f.output)
	if err != nil {
		return err
	}
	defer done()
	if err := rca.Write(w, f.format, src.Name+" as "+resp.User, rs); err != nil {
		return err
	}
	if s := rca.Summarize(rs); s.Failed > 0 {
		return checkFailed("%d of %d tests failed", s.Failed, s.Tests)
	}
	return nil
}
