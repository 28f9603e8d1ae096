// Package fuzzseed gives every fuzz target a seed corpus on disk: Add is
// testing.F.Add that, with EXSIM_WRITE_FUZZ_SEEDS=1 in the environment,
// also writes the seed to testdata/fuzz/<FuzzTarget>/ in go test's corpus
// format. The files are what `go test` runs as the target's regression
// cases and what a fuzzing campaign (.ci/fuzz) starts from; regenerate
// them after changing a target's seeds:
//
//	EXSIM_WRITE_FUZZ_SEEDS=1 go test -run '^Fuzz' ./...
package fuzzseed

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Env is the environment variable that turns writing on.
const Env = "EXSIM_WRITE_FUZZ_SEEDS"

// Add adds args to f's seed corpus (and writes them when Env is set).
func Add(f *testing.F, args ...any) {
	f.Helper()
	f.Add(args...)
	if os.Getenv(Env) == "" {
		return
	}
	b, err := Encode(args...)
	if err != nil {
		f.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", f.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	name := fmt.Sprintf("seed-%x", sha256.Sum256(b))[:21]
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		f.Fatal(err)
	}
}

// AddBytes adds each seed as one []byte argument: the seed list of a target
// that takes raw bytes, written as strings.
func AddBytes(f *testing.F, seeds ...string) {
	f.Helper()
	for _, s := range seeds {
		Add(f, []byte(s))
	}
}

// Encode is a corpus file for args, in the format of the go command's
// fuzzing engine ("go test fuzz v1" and one Go literal per argument).
func Encode(args ...any) ([]byte, error) {
	var sb strings.Builder
	sb.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			sb.WriteString("[]byte(" + strconv.Quote(string(v)) + ")")
		case string:
			sb.WriteString("string(" + strconv.Quote(v) + ")")
		case bool:
			sb.WriteString("bool(" + strconv.FormatBool(v) + ")")
		case int:
			sb.WriteString("int(" + strconv.Itoa(v) + ")")
		case int64:
			sb.WriteString("int64(" + strconv.FormatInt(v, 10) + ")")
		case uint8:
			sb.WriteString("byte(" + strconv.Itoa(int(v)) + ")")
		case uint16:
			sb.WriteString("uint16(" + strconv.Itoa(int(v)) + ")")
		case uint32:
			sb.WriteString("uint32(" + strconv.FormatUint(uint64(v), 10) + ")")
		default:
			return nil, fmt.Errorf("fuzzseed: %T is not a fuzzing argument type this package writes", a)
		}
		sb.WriteByte('\n')
	}
	return []byte(sb.String()), nil
}
