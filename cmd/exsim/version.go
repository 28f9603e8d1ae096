package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionInfo is what `exsim version` prints: the module's version and
// the VCS state the Go toolchain stamped into the binary at build time.
type versionInfo struct {
	Module   string `json:"module"`
	Version  string `json:"version"` // "(devel)" for a build from a checkout
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"` // the commit's time, RFC 3339
	Modified bool   `json:"modified"`       // built with uncommitted changes
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// buildVersion reads the build information of the running binary. The
// toolchain stamps VCS information only when it builds inside a
// repository's main working tree (not a linked git worktree) and
// -buildvcs is not false.
func buildVersion() versionInfo {
	bi, _ := debug.ReadBuildInfo()
	return versionFrom(bi)
}

// versionFrom reads build information (nil when the binary has none).
func versionFrom(bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, Version: "(unknown)"}
	if bi == nil {
		return v
	}
	v.Module, v.Version, v.Go = bi.Main.Path, bi.Main.Version, bi.GoVersion
	if v.Version == "" {
		v.Version = "(devel)"
	}
	if v.Go == "" {
		v.Go = runtime.Version()
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func newVersionCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print exsim's module version and the VCS revision it was built from",
		Long: `Prints the module version (a tagged release installed with go install, or "(devel)" for a
build from a checkout) and what the Go toolchain stamped into the binary: the VCS
revision, its commit time and whether the tree had uncommitted changes.`,
		Example: `  exsim version
  exsim version --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			switch format {
			case "json":
				return writeJSON(g, v)
			case "table":
				rev := v.Revision
				if rev == "" {
					rev = "unknown (built without VCS information, e.g. go build -buildvcs=false)"
				} else if v.Modified {
					rev += " (modified)"
				}
				rows := [][]any{{"module", v.Module}, {"version", v.Version}, {"revision", rev}}
				if v.Time != "" {
					rows = append(rows, []any{"time", v.Time})
				}
				rows = append(rows, []any{"go", v.Go}, []any{"platform", v.Platform})
				fmt.Fprintf(g.stdout, "exsim %s\n", v.Version)
				return writeTable(g.stdout, "KEY\tVALUE", rows)
			}
			return usageError("--format %q: use table or json", format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	return cmd
}
