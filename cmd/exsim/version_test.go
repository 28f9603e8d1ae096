package main

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version", "--format", "json"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exsim version --format json: exit %d: %s", code, errb.String())
	}
	var v versionInfo
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("version JSON: %v\n%s", err, out.String())
	}
	if v.Module != "github.com/exsim/exsim" || v.Go != runtime.Version() || v.Version == "" || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("exsim version = %+v", v)
	}
	out.Reset()
	if code := run(context.Background(), []string{"version"}, nil, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "exsim ") || !strings.Contains(out.String(), "revision") {
		t.Errorf("exsim version: exit %d\n%s", code, out.String())
	}
	if code := run(context.Background(), []string{"version", "--format", "xml"}, nil, &out, &errb); code != exitUsage {
		t.Errorf("exsim version --format xml: exit %d, want %d", code, exitUsage)
	}
}

// The VCS fields come from what the toolchain stamps, in the form
// `go version -m` prints it.
func TestVersionFromBuildInfo(t *testing.T) {
	bi, err := debug.ParseBuildInfo("go\tgo1.26.8\npath\tgithub.com/exsim/exsim/cmd/exsim\nmod\tgithub.com/exsim/exsim\tv0.4.0\t\nbuild\tvcs=git\nbuild\tvcs.revision=823e0227deb2bbdc608bd7bbf8e72697eab6be1b\nbuild\tvcs.time=2026-12-05T08:06:05Z\nbuild\tvcs.modified=true\n")
	if err != nil {
		t.Fatal(err)
	}
	got := versionFrom(bi)
	want := versionInfo{Module: "github.com/exsim/exsim", Version: "v0.4.0", Revision: "823e0227deb2bbdc608bd7bbf8e72697eab6be1b", Time: "2026-12-05T08:06:05Z", Modified: true, Go: "go1.26.8", Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if got != want {
		t.Errorf("versionFrom = %+v, want %+v", got, want)
	}
	if v := versionFrom(nil); v.Version != "(unknown)" || v.Go != runtime.Version() {
		t.Errorf("versionFrom(nil) = %+v", v)
	}
}
