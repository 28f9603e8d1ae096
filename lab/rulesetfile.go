package lab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"

	"github.com/exsim/exsim/topology"
)

// Ruleset file formats (exsim lab diff/test --firewall-format).
const (
	FormatNftables      = "nftables"
	FormatIptables      = "iptables"
	FormatNetworkPolicy = "networkpolicy"
)

// FirewallFormats lists the format names, in the order of the help text.
var FirewallFormats = []string{FormatNftables, FormatIptables, FormatNetworkPolicy}

// A FirewallFormat is a syntax of ruleset file the lab's router can load.
// A format loads the file into the router's namespace by the means its
// users have (nft -f, iptables-nft-restore, a translation to nft) and says
// where each rule the kernel then holds came from, so that a verdict seen
// in an nftables trace names a line of the user's file. A format that
// needs the lab (Kubernetes NetworkPolicy, netpolformat.go) gets the
// topology when it is made (firewallFormat).
type FirewallFormat interface {
	// Name is the --firewall-format name.
	Name() string
	// Describe is what a file of this format is, for messages ("iptables-save output").
	Describe() string
	// Looks reports whether text is written in this format.
	Looks(text []byte) bool
	// Load replaces the ruleset of namespace ns (flushed before) with the
	// file's and maps the kernel's rules back to the file.
	Load(ns, file string, text []byte) (*RuleOrigins, error)
}

// firewallFormat returns the format of a name for the lab of topology t
// (nftables and iptables files do not depend on it; the NetworkPolicy
// translation does).
func firewallFormat(name string, t *topology.Topology) (FirewallFormat, error) {
	switch name {
	case FormatNftables:
		return nftFormat{}, nil
	case FormatIptables:
		return iptablesFormat{}, nil
	case FormatNetworkPolicy:
		if t == nil {
			return nil, errors.New("--firewall-format networkpolicy: the policies are translated for a topology, and none was given")
		}
		return netpolFormat{t}, nil
	}
	return nil, fmt.Errorf("--firewall-format %q: use %s", name, strings.Join(FirewallFormats, ", "))
}

var (
	iptablesLooks = regexp.MustCompile(`(?m)^\*(filter|nat|mangle|raw|security)\s*$`)
	commitLooks   = regexp.MustCompile(`(?m)^COMMIT\s*$`)
	netpolLooks   = regexp.MustCompile(`(?m)^\s*"?kind"?\s*:\s*"?NetworkPolicy\b`)
	nftLooks      = regexp.MustCompile(`(?m)^\s*((add|create|insert|flush|delete|destroy)\s+(table|chain|rule|ruleset|set|map)|table\s+(\S+\s+)?\S+\s*\{|define\s|include\s)`)
)

// detectFormat names the format a text looks like, or "".
func detectFormat(text []byte) string {
	switch {
	case iptablesLooks.Match(text) && commitLooks.Match(text):
		return FormatIptables
	case netpolLooks.Match(text):
		return FormatNetworkPolicy
	case nftLooks.Match(text):
		return FormatNftables
	}
	return ""
}

var formatDescriptions = map[string]string{
	FormatNftables:      "an nft ruleset",
	FormatIptables:      "iptables-save output",
	FormatNetworkPolicy: "Kubernetes NetworkPolicy",
}

// RuleRef is one rule in the kernel: its chain and handle.
type RuleRef struct {
	ChainRef
	Handle int
}

// KernelChain is a chain the kernel holds after a load.
type KernelChain struct {
	Hook   string // "" for a regular chain
	Policy string
	// Decl is the file's line for the chain (or its policy).
	Decl Origin
}

// RuleOrigins maps what the kernel holds after a load back to the file.
type RuleOrigins struct {
	File   string
	Format string
	Rules  map[RuleRef]Origin
	Chains map[ChainRef]KernelChain
}

// RulesetFile is a ruleset file as the user gave it: its path, its
// format (named or detected) and its text.
type RulesetFile struct {
	Path   string
	Format FirewallFormat
	Text   []byte
	// topology is the lab the file is for: which address families its
	// forward chain must filter.
	topology *topology.Topology
}

// ReadRulesetFile reads a ruleset file and settles its format: the one
// named (format), or the one the text looks like. A file that looks like
// another format than the one named gets one line saying which.
func ReadRulesetFile(path, format string, t *topology.Topology) (*RulesetFile, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	looks := detectFormat(text)
	if format == "" {
		if looks == "" {
			return nil, fmt.Errorf("%s: not a ruleset exsim can read (an nft ruleset, iptables-save output); name its format with --firewall-format", path)
		}
		format = looks
	}
	f, err := firewallFormat(format, t)
	if err != nil {
		return nil, err
	}
	if looks != "" && looks != format {
		return nil, fmt.Errorf("%s: this looks like %s; use --firewall-format %s", path, formatDescriptions[looks], looks)
	}
	return &RulesetFile{Path: path, Format: f, Text: text, topology: t}, nil
}

// Load flushes namespace ns's ruleset and loads the file in its place. A
// ruleset without a chain on the forward hook (of a family the lab's
// addresses use) is an error: nothing of it would filter the lab's zones.
// Every failure is a *FirewallError.
func (f *RulesetFile) Load(ns string) (*RuleOrigins, error) {
	if _, err := nftRun(ns, nil, "flush", "ruleset"); err != nil {
		return nil, err
	}
	o, err := f.Format.Load(ns, f.Path, f.Text)
	if err != nil {
		return nil, &FirewallError{File: f.Path, Err: err}
	}
	if err := checkForwardChain(ns, f.Path, f.topology); err != nil {
		return nil, err
	}
	return o, nil
}

// nftRun runs nft with args inside namespace ns (stdin from in, if any)
// and returns its standard output.
func nftRun(ns string, in []byte, args ...string) ([]byte, error) {
	return runInNetns(ns, in, "nft", args...)
}

func runInNetns(ns string, in []byte, name string, args ...string) ([]byte, error) {
	bin, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if in != nil {
		cmd.Stdin = bytes.NewReader(in)
	}
	if err := inNetns(ns, cmd.Run); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}

// nftFormat is a file for `nft -f`.
type nftFormat struct{}

func (nftFormat) Name() string           { return FormatNftables }
func (nftFormat) Describe() string       { return formatDescriptions[FormatNftables] }
func (nftFormat) Looks(text []byte) bool { return detectFormat(text) == FormatNftables }

func (nftFormat) Load(ns, file string, text []byte) (*RuleOrigins, error) {
	src, err := ParseNft(file, text)
	if err != nil {
		return nil, err
	}
	if err := NftFile(ns, file, false); err != nil {
		return nil, err
	}
	return mapKernel(ns, src, FormatNftables)
}

// kernelRuleset is `nft -a -j list ruleset`: chains and rules, each
// chain's rules in order.
type kernelRuleset struct {
	chains []kernelChain
	rules  map[ChainRef][]int // handles in order
	// comments are the rules' nft comments.
	comments map[RuleRef]string
}

type kernelChain struct {
	ref          ChainRef
	hook, policy string
}

func listKernel(ns string) (*kernelRuleset, error) {
	out, err := nftRun(ns, nil, "-a", "-j", "list", "ruleset")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("nft -j list ruleset: %w", err)
	}
	k := &kernelRuleset{rules: map[ChainRef][]int{}, comments: map[RuleRef]string{}}
	type obj struct {
		Family  string `json:"family"`
		Table   string `json:"table"`
		Name    string `json:"name"`
		Chain   string `json:"chain"`
		Handle  int    `json:"handle"`
		Hook    string `json:"hook"`
		Policy  string `json:"policy"`
		Comment string `json:"comment"`
	}
	for _, item := range doc.Nftables {
		for kind, raw := range item {
			var o obj
			switch kind {
			case "chain":
				if err := json.Unmarshal(raw, &o); err != nil {
					return nil, err
				}
				k.chains = append(k.chains, kernelChain{ChainRef{o.Family, o.Table, o.Name}, o.Hook, o.Policy})
			case "rule":
				if err := json.Unmarshal(raw, &o); err != nil {
					return nil, err
				}
				ref := ChainRef{o.Family, o.Table, o.Chain}
				k.rules[ref] = append(k.rules[ref], o.Handle)
				if o.Comment != "" {
					k.comments[RuleRef{ref, o.Handle}] = o.Comment
				}
			}
		}
	}
	return k, nil
}

// mapKernel lists what namespace ns holds and pairs each chain's rules,
// in order, with the rule statements src read for that chain. A chain
// whose count differs (or that the file places by handle) keeps its
// rules' handles without lines.
func mapKernel(ns string, src *SourceMap, format string) (*RuleOrigins, error) {
	k, err := listKernel(ns)
	if err != nil {
		return nil, err
	}
	o := &RuleOrigins{File: src.File, Format: format, Rules: map[RuleRef]Origin{}, Chains: map[ChainRef]KernelChain{}}
	for _, kc := range k.chains {
		sc := src.Chains[kc.ref]
		decl := Origin{File: src.File, Text: "chain " + kc.ref.String() + " (not declared in the file)"}
		if sc != nil {
			decl = sc.Decl
		}
		o.Chains[kc.ref] = KernelChain{Hook: kc.hook, Policy: kc.policy, Decl: decl}
		handles := k.rules[kc.ref]
		matched := sc != nil && !sc.Unordered && len(sc.Rules) == len(handles)
		for i, h := range handles {
			if matched {
				o.Rules[RuleRef{kc.ref, h}] = sc.Rules[i]
				continue
			}
			o.Rules[RuleRef{kc.ref, h}] = Origin{File: src.File,
				Text: fmt.Sprintf("rule handle %d of chain %s (the file's rules of this chain do not match the kernel's one to one)", h, kc.ref)}
		}
	}
	return o, nil
}
