package main

import (
	"cmp"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A pkg is one package of the module as the picture and the folder map show
// it: its folder, the first sentence of its doc comment, and the module
// packages its non-test files import.
type pkg struct {
	Dir     string // relative to the module root, slash-separated ("servers/smtpd")
	Name    string
	Summary string
	Imports []string // module-relative folders, sorted
	Layer   int      // 0 for packages that import no module package
}

// loadPackages reads every folder under root that holds non-test Go files
// (skipping testdata and hidden folders) with go/parser: no go command, no
// build, so the test runs anywhere the source is.
func loadPackages(root, module string) ([]*pkg, error) {
	byDir := map[string]*pkg{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			n := d.Name()
			if path != root && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.ImportsOnly)
		if err != nil {
			return fmt.Errorf("archdoc: %w", err)
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		p := byDir[rel]
		if p == nil {
			p = &pkg{Dir: rel, Name: f.Name.Name}
			byDir[rel] = p
		}
		if f.Doc != nil && p.Summary == "" {
			p.Summary = summary(f.Doc)
		}
		for _, im := range f.Imports {
			path := strings.Trim(im.Path.Value, `"`)
			if rest, ok := strings.CutPrefix(path, module+"/"); ok && !slices.Contains(p.Imports, rest) {
				p.Imports = append(p.Imports, rest)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []*pkg
	for _, p := range byDir {
		slices.Sort(p.Imports)
		out = append(out, p)
	}
	assignLayers(out)
	slices.SortFunc(out, func(a, b *pkg) int {
		return cmp.Or(cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Dir, b.Dir))
	})
	return out, nil
}

// summary is the first sentence of a package doc comment, without the
// "Package x is" or "Command x" lead-in that every one of them repeats.
func summary(g *ast.CommentGroup) string {
	s := doc.Synopsis(g.Text())
	for _, lead := range []string{"Package ", "Command "} {
		if rest, ok := strings.CutPrefix(s, lead); ok {
			if _, after, ok := strings.Cut(rest, " "); ok {
				s = strings.TrimPrefix(after, "is ")
				s = strings.TrimPrefix(s, "are ")
			}
		}
	}
	// The folder map wants the noun phrase, not the detail after the colon.
	if i := strings.Index(s, ": "); i >= 20 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

// assignLayers puts every package one layer above the highest package it
// imports, so that imports in the picture always point down.
func assignLayers(ps []*pkg) {
	byDir := map[string]*pkg{}
	for _, p := range ps {
		byDir[p.Dir] = p
	}
	done := map[string]bool{}
	var layer func(p *pkg) int
	layer = func(p *pkg) int {
		if done[p.Dir] {
			return p.Layer
		}
		done[p.Dir] = true // the module has no import cycles; this only stops a loop
		l := 0
		for _, im := range p.Imports {
			if q := byDir[im]; q != nil {
				l = max(l, layer(q)+1)
			}
		}
		p.Layer = l
		return l
	}
	for _, p := range ps {
		layer(p)
	}
}

// moduleRoot finds the folder of go.mod from dir upwards, and the module path.
func moduleRoot(dir string) (root, module string, err error) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			for line := range strings.SplitSeq(string(b), "\n") {
				if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
					return d, strings.TrimSpace(m), nil
				}
			}
			return "", "", fmt.Errorf("archdoc: %s/go.mod names no module", d)
		}
		if filepath.Dir(d) == d {
			return "", "", fmt.Errorf("archdoc: no go.mod above %s", dir)
		}
	}
}
