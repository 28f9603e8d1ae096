package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/topology"
)

// writeListing prints items as a JSON array (format "json"; [] when there
// are none, never null) or as a table: header holds the tab-separated
// column names, row gives one item's cells.
func writeListing[T any](g *globals, format string, items []T, header string, row func(T) []any) error {
	if format == "json" {
		if items == nil {
			items = []T{}
		}
		return writeJSON(g, items)
	}
	rows := make([][]any, 0, len(items))
	for _, it := range items {
		rows = append(rows, row(it))
	}
	return writeTable(g.stdout, header, rows)
}

// writeTable prints the header (tab-separated column names) and a line per
// row in aligned columns, two spaces apart; a cell prints as %v does.
func writeTable(w io.Writer, header string, rows [][]any) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, cells := range rows {
		for i, c := range cells {
			if i > 0 {
				io.WriteString(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		io.WriteString(tw, "\n")
	}
	return tw.Flush()
}

func writeJSON(g *globals, v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "<id@host>", not "\u003cid@host\u003e": nobody embeds this in HTML
	return enc.Encode(v)
}

// openReport is where a report goes: the file output, or standard output
// when output is "". Color is for tables on a terminal only; done closes
// the file.
func openReport(g *globals, format, output string) (w io.Writer, color bool, done func(), err error) {
	if output == "" {
		return g.stdout, format == "table" && colored(g.stdout), func() {}, nil
	}
	f, err := os.Create(output)
	if err != nil {
		return nil, false, nil, usageError("%v", err)
	}
	return f, false, func() { f.Close() }, nil
}

// checkReportPath fails at once, before a long run, when a report could
// not be written to path (its directory is missing, or it is one): the
// run's results would be lost at the end. It leaves nothing behind, since
// CI posts a report file that exists. A path that exists is opened for
// writing, untruncated: a writable file in a read-only directory, or a
// pipe such as bash's >(...) (/dev/fd/63), is fine; only for a new file
// must the directory take one.
func checkReportPath(flag, path string) error {
	if path == "" {
		return nil
	}
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return usageError("%s %s: is a directory", flag, path)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return usageError("%s %s: cannot write there: %v", flag, path, errors.Unwrap(err))
		}
		return f.Close()
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".exsim-report-*")
	if err != nil {
		return usageError("%s %s: cannot write there: %v", flag, path, errors.Unwrap(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// askTransportServers asks the admin API of every server with queues (or
// of server alone) for its part of a listing (see askEach).
func askTransportServers[T any](ctx context.Context, g *globals, server string, ask func(context.Context, *control.Client, string) ([]T, error)) ([]T, error) {
	servers, err := g.transportServers(server)
	if err != nil {
		return nil, err
	}
	if server == "" {
		servers = g.onlyServedHere(ctx, servers) // inside a container: its own server
	}
	return askEach(ctx, g, servers, ask)
}

// askServers asks the admin API of every server of the lab with one of
// roles for its part of a listing.
func askServers[T any](ctx context.Context, g *globals, roles []topology.Role, ask func(context.Context, *control.Client, string) ([]T, error)) ([]T, error) {
	t, err := g.labTopology()
	if err != nil {
		return nil, err
	}
	var servers []string
	for _, s := range t.Servers {
		if slices.Contains(roles, s.Role) {
			servers = append(servers, s.Name)
		}
	}
	return askEach(ctx, g, g.onlyServedHere(ctx, servers), ask) // inside a container: its own server
}

// askEach asks the admin API of each server for its part of a listing. A
// server whose process does not answer is a problem to report with the
// rest, not the end of the listing; a server with no admin API at all is
// an error. The problems go to standard error, before the listing (which
// goes to standard output, so JSON stays whole). When no server answered
// it is the command's error, and nothing is listed: "no lab running" (exit
// code 3) when nothing answered at all, else the API's refusal (exit code
// 2).
func askEach[T any](ctx context.Context, g *globals, servers []string, ask func(context.Context, *control.Client, string) ([]T, error)) ([]T, error) {
	var items []T
	var problems []error // "SERVER: error", one per server that did not answer
	for _, name := range servers {
		c, err := g.adminFor(name)
		if err != nil {
			return nil, err
		}
		part, err := ask(ctx, c, name)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", name, err))
			continue
		}
		items = append(items, part...)
	}
	if len(problems) == 0 {
		return items, nil
	}
	if len(problems) == len(servers) && !slices.ContainsFunc(problems, func(err error) bool { return !noAnswer(err) }) {
		return nil, noLab(problems[0])
	}
	for _, p := range problems {
		fmt.Fprintln(g.stderr, "exsim:", p)
	}
	if len(problems) == len(servers) {
		return nil, usageError("no server could answer")
	}
	return items, nil
}

// askServer runs one request against the admin API of the process running
// server; the API's refusal is a usage error (exit code 2), as every
// command that changes a running lab reports it, and no answer at all is
// "no lab running" (exit code 3).
func (g *globals) askServer(server string, do func(*control.Client) error) error {
	c, err := g.adminFor(server)
	if err != nil {
		return err
	}
	return adminError(do(c))
}

// adminProcesses returns one client per process of the running lab (a
// process may run several servers), in a stable order.
func (g *globals) adminProcesses() ([]*control.Client, error) {
	cs, err := g.adminClients()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*control.Client
	for _, c := range cs {
		if !seen[c.BaseURL] {
			seen[c.BaseURL] = true
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *control.Client) int { return strings.Compare(a.BaseURL, b.BaseURL) })
	return out, nil
}
