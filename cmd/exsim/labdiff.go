package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/lab"
)

func newLabDiffCmd(g *globals) *cobra.Command {
	var f labFlags
	var before, after, format, output, probeVia string
	var timeout time.Duration
	var withScenarios bool
	cmd := &cobra.Command{
		Use:   "diff --before FILE --after FILE",
		Short: "Review a firewall change: which Exchange flows it breaks or opens, and the rule responsible",
		Long: `Builds the lab once, runs every flow of the probe catalogue (the documented flows and
the flows that must stay closed) through the ruleset before the change and then, swapped
into the same router, through the ruleset after it, and reports per flow:

  broken     a documented flow that worked before and fails after
  opened     a flow that must stay closed, reachable after
  fixed      failing before, passing after
  unchanged  counted

Each changed flow names the Exchange feature it affects and the rule of the after file
that dropped (broken) or accepted (opened) it, file:line and text, or the chain whose
default policy decided. The rule comes from the kernel: nftables tracing in the router.
Rulesets are nft files, iptables-save/ip6tables-save output, or Kubernetes NetworkPolicy
YAML translated for the lab (--firewall-format, or detected). Exits 0 when nothing documented broke and nothing that must stay closed
opened, 1 otherwise, 2 for bad input (a file that does not load, has no forward chain,
or is in another format than named). Needs root, nft, and iptables-nft-restore for
iptables-save files.`,
		Example: `  exsim export nftables > base.nft
  sudo exsim lab diff --before base.nft --after firewall/exchange.nft
  sudo exsim lab diff --before old.rules --after new.rules --format markdown -o comment.md
  sudo exsim lab diff --config lab.yaml --before a.nft --after b.nft --scenarios --format junit -o diff.xml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if before == "" || after == "" {
				return usageError("lab diff needs --before FILE and --after FILE")
			}
			// The paths stay as given: the report names the user's files.
			for _, p := range []string{before, after} {
				if _, err := os.Stat(p); err != nil {
					return usageError("%v", err)
				}
			}
			if err := checkReportPath("-o", output); err != nil {
				return err
			}
			o, dir, temp, err := g.labTestOptions(cmd, &f)
			if err != nil {
				return err
			}
			do := lab.DiffOptions{Options: o, Before: before, After: after, Format: f.format,
				ProbeMode: probeVia, ProbeTimeout: timeout,
				OnPhase: func(p string) { fmt.Fprintf(g.stderr, "exsim lab diff: %s\n", p) }}
			if withScenarios {
				do.RunScenarios = labScenarioRunner(g)
			}
			rep, err := lab.Diff(cmd.Context(), do)
			var bad *lab.FirewallError
			if errors.As(err, &bad) {
				left := "no namespace"
				if temp {
					os.RemoveAll(dir)
					left += ", no temporary directory"
				}
				return usageError("%v (nothing is left behind: %s)", bad, left)
			}
			if temp {
				if err != nil {
					fmt.Fprintf(g.stderr, "exsim lab diff: kept %s (servers' logs in %s/<SERVER>/exsim.log)\n", dir, dir)
				} else {
					os.RemoveAll(dir)
				}
			}
			if rep == nil {
				return err
			}
			if werr := writeDiff(g, output, format, rep); werr != nil {
				return werr
			}
			if err != nil {
				return err
			}
			if !rep.Passed() {
				return checkFailed("%s", rep.Verdict())
			}
			return nil
		},
	}
	f.add(cmd, lab.DefaultPrefix+"diff")
	cmd.Flags().MarkHidden("firewall") // the rulesets are --before and --after
	cmd.Flags().StringVar(&before, "before", "", "the ruleset before the change (nft file, iptables-save output or NetworkPolicy YAML)")
	cmd.Flags().StringVar(&after, "after", "", "the ruleset after the change")
	formatFlag(cmd, &format, lab.DiffFormats...) // markdown is shaped for a pull-request comment
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the report to FILE instead of standard output")
	cmd.Flags().BoolVar(&withScenarios, "scenarios", false, "also run the mail-flow scenarios under both rulesets and report those whose result changed")
	enumFlag(cmd, &probeVia, "probe-via", "", lab.ProbeAdmin, "where the checks run", lab.ProbeNetns, lab.ProbeAdmin)
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "per-flow timeout (default 3s)")
	return cmd
}

// writeDiff writes the report to -o FILE or standard output; with a file,
// the verdict line also goes to standard error.
func writeDiff(g *globals, output, format string, rep *lab.DiffReport) error {
	var w io.Writer = g.stdout
	var file *os.File
	if output != "" {
		var err error
		if file, err = os.Create(output); err != nil {
			return usageError("-o: %v", err)
		}
		w = file
	}
	err := lab.WriteDiffReport(w, format, rep)
	if file != nil {
		err = errors.Join(err, file.Close())
		fmt.Fprintf(g.stderr, "exsim lab diff: %s (report in %s)\n", rep.Verdict(), output)
	}
	return err
}
