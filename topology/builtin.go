package topology

import (
	"embed"
	"fmt"
	"slices"
	"strings"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// DefaultName is the built-in topology used when none is chosen.
const DefaultName = "contoso"

// BuiltinNames lists the built-in topologies.
func BuiltinNames() []string {
	entries, _ := builtinFS.ReadDir("builtin")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// BuiltinSource returns the YAML of a built-in topology, as `exsim init` writes it.
func BuiltinSource(name string) ([]byte, error) {
	b, err := builtinFS.ReadFile("builtin/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no built-in topology %q (built in: %s)", name, strings.Join(BuiltinNames(), ", "))
	}
	return b, nil
}

// Builtin returns a built-in topology, decoded and validated like a file.
func Builtin(name string) (*Topology, error) {
	src, err := BuiltinSource(name)
	if err != nil {
		return nil, err
	}
	return Parse("built-in topology "+name, src)
}
