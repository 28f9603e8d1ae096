// Command archdoc draws docs/architecture.svg and writes the folder map of
// docs/ARCHITECTURE.md from the source tree itself: the packages, their doc
// comments and their imports. Run it after adding, moving or re-describing a
// package: go run ./internal/archdoc. Its test fails while either file is
// out of date, so the picture cannot drift from the code.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, module, err := moduleRoot(wd)
	if err != nil {
		return err
	}
	svg, md, err := generate(root, module)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "docs", "architecture.svg"), []byte(svg), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, "docs", "ARCHITECTURE.md"), []byte(md), 0o644)
}

// generate returns the picture and docs/ARCHITECTURE.md with its folder map
// brought up to date.
func generate(root, module string) (svg, md string, err error) {
	ps, err := loadPackages(root, module)
	if err != nil {
		return "", "", err
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "ARCHITECTURE.md"))
	if err != nil {
		return "", "", fmt.Errorf("archdoc: %w", err)
	}
	md, err = replaceFolderMap(string(doc), renderFolderMap(ps))
	if err != nil {
		return "", "", err
	}
	return renderSVG(ps), md, nil
}

func sortByDir(ps []*pkg) {
	slices.SortFunc(ps, func(a, b *pkg) int { return strings.Compare(a.Dir, b.Dir) })
}
