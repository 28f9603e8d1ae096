package main

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func root(t *testing.T) (string, string) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	r, m, err := moduleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	return r, m
}

// TestDocsUpToDate fails when docs/architecture.svg or the folder map in
// docs/ARCHITECTURE.md no longer match the source tree.
func TestDocsUpToDate(t *testing.T) {
	r, m := root(t)
	svg, md, err := generate(r, m)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"architecture.svg": svg, "ARCHITECTURE.md": md} {
		got, err := os.ReadFile(filepath.Join(r, "docs", name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("docs/%s is out of date with the packages: run `go run ./internal/archdoc` and commit the result", name)
		}
	}
	if err := xml.NewDecoder(strings.NewReader(svg)).Decode(new(struct{})); err != nil && err != io.EOF {
		t.Errorf("architecture.svg is not well-formed XML: %v", err)
	}
}

// TestPathsNameRealPackages keeps the drawn paths honest: every package a
// step names is a package of the module.
func TestPathsNameRealPackages(t *testing.T) {
	r, m := root(t)
	ps, err := loadPackages(r, m)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, p := range ps {
		have[p.Dir] = true
		if p.Summary == "" {
			t.Errorf("package %s has no doc comment saying what lives there", p.Dir)
		}
	}
	for _, p := range paths {
		for _, s := range p.Steps {
			for _, d := range s.Packages {
				if !have[d] {
					t.Errorf("%q step %q names %s, which is not a package of the module", p.Title, s.Where, d)
				}
			}
		}
	}
}

// TestLayers checks the direction the architecture promises: protocol
// servers never import roles, transport or the control API, and nothing
// below cmd imports cmd.
func TestLayers(t *testing.T) {
	r, m := root(t)
	ps, err := loadPackages(r, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		for _, im := range p.Imports {
			if strings.HasPrefix(p.Dir, "servers/") && (im == "roles" || strings.HasPrefix(im, "roles/") ||
				im == "transport" || im == "internal/control" || im == "topology") {
				t.Errorf("%s imports %s: a protocol server talks to a narrow interface of its own, never to the roles above it", p.Dir, im)
			}
			if strings.HasPrefix(im, "cmd/") {
				t.Errorf("%s imports %s", p.Dir, im)
			}
		}
	}
}

// TestHouseRules checks the two limits of the house that a newcomer reads
// first: at most twelve top-level code folders besides docs and deploy,
// and no non-test Go file over 600 lines.
func TestHouseRules(t *testing.T) {
	r, _ := root(t)
	entries, err := os.ReadDir(r)
	if err != nil {
		t.Fatal(err)
	}
	var top []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && e.Name() != "docs" && e.Name() != "deploy" {
			top = append(top, e.Name())
		}
	}
	if len(top) > 12 {
		t.Errorf("%d top-level folders besides docs and deploy (%s), want at most 12", len(top), strings.Join(top, " "))
	}
	err = filepath.WalkDir(r, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != r {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n := 0
		for sc := bufio.NewScanner(bytes.NewReader(b)); sc.Scan(); {
			n++
		}
		if n > 600 {
			rel, _ := filepath.Rel(r, path)
			t.Errorf("%s has %d lines; split it by what it says before 600", rel, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
