package lab

import (
	"fmt"
	"strings"

	"github.com/exsim/exsim/lab/networkpolicy"
	"github.com/exsim/exsim/topology"
)

// netpolFormat is Kubernetes NetworkPolicy YAML (networking.k8s.io/v1),
// translated for the lab's topology by lab/networkpolicy into nft text
// that replaces the table "inet exsim". Every translated rule carries the
// comment "np:<n>", which the kernel keeps: a rule the trace names is
// found by its comment, and its origin is the policy's line in the file.
type netpolFormat struct{ t *topology.Topology }

func (netpolFormat) Name() string           { return FormatNetworkPolicy }
func (netpolFormat) Describe() string       { return formatDescriptions[FormatNetworkPolicy] }
func (netpolFormat) Looks(text []byte) bool { return detectFormat(text) == FormatNetworkPolicy }

func (f netpolFormat) Load(ns, file string, text []byte) (*RuleOrigins, error) {
	pols, _, err := networkpolicy.Parse(file, text)
	if err != nil {
		return nil, err
	}
	rs, err := networkpolicy.Translate(f.t, pols)
	if err != nil {
		return nil, err
	}
	if _, err := nftRun(ns, []byte(rs.Text()), "-f", "-"); err != nil {
		return nil, fmt.Errorf("firewall %s: the NetworkPolicy translation does not load: %w", file, err)
	}
	k, err := listKernel(ns)
	if err != nil {
		return nil, err
	}
	o := &RuleOrigins{File: file, Format: FormatNetworkPolicy, Rules: map[RuleRef]Origin{}, Chains: map[ChainRef]KernelChain{}}
	for _, kc := range k.chains {
		o.Chains[kc.ref] = KernelChain{Hook: kc.hook, Policy: kc.policy,
			Decl: Origin{File: file, Text: fmt.Sprintf("the translation's chain %s (policy %s)", kc.ref.Chain, kc.policy)}}
		for _, h := range k.rules[kc.ref] {
			ref := RuleRef{kc.ref, h}
			r, ok := rs.Lookup(k.comments[ref])
			if !ok {
				continue
			}
			text := r.Origin.String()
			if r.Origin.File != "" {
				text = strings.TrimPrefix(text, fmt.Sprintf("%s:%d: ", r.Origin.File, r.Origin.Line))
			}
			o.Rules[ref] = Origin{File: file, Line: r.Origin.Line, Text: text}
		}
	}
	return o, nil
}
