package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exsim/exsim/internal/labtest"
)

// readmeMarker, on the line before a ```sh block of README.md, marks the
// block as an example TestREADMEExamples runs as written against the
// contoso lab on its real addresses and ports (README "Reading the code").
const readmeMarker = "<!-- readme-test -->"

// readmeBlock is one marked example: where it starts, and its text.
type readmeBlock struct {
	line   int
	script string
}

// readmeBlocks returns the marked ```sh blocks of a README, in order.
func readmeBlocks(path string) ([]readmeBlock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []readmeBlock
	var cur *readmeBlock
	marked := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur != nil && l == "```":
			out, cur = append(out, *cur), nil
		case cur != nil:
			cur.script += l + "\n"
		case strings.TrimSpace(l) == readmeMarker:
			marked = true
		case marked && l == "```sh":
			cur, marked = &readmeBlock{line: n + 1}, false
		case marked && strings.TrimSpace(l) != "":
			return nil, fmt.Errorf("%s:%d: %s is not followed by a ```sh block", path, n, readmeMarker)
		}
	}
	return out, sc.Err()
}

// readmeTools are the programs the README's examples use besides exsim;
// a block that names one that is missing is skipped, saying which.
var readmeTools = []string{"swaks", "curl", "ldapsearch", "jq", "openssl", "dig", "nmap", "xml2wbxml", "wbxml2xml"}

// TestREADMEExamples runs the README's marked shell examples as written:
// the contoso lab on its real addresses and ports (127.0.20.1:993...), in
// a network namespace of its own so that it collides with nothing, with
// ./exsim-data as its data directory and this exsim on the PATH. It needs
// root for the namespace and the ports below 1024.
func TestREADMEExamples(t *testing.T) {
	if os.Getenv("EXSIM_README_NETNS") == "" {
		if os.Geteuid() != 0 {
			t.Skip("runs the README's examples on the real ports inside a network namespace: needs root")
		}
		if err := exec.Command("unshare", "--net", "true").Run(); err != nil {
			t.Skipf("unshare --net (util-linux) does not work here: %v", err)
		}
		// The test binary again, inside a new network namespace.
		cmd := exec.Command("unshare", "--net", os.Args[0], "-test.run=^TestREADMEExamples$", "-test.v", "-test.count=1", "-test.timeout=3m")
		cmd.Env = append(os.Environ(), "EXSIM_README_NETNS=1", "EXSIM_BIN="+labtest.Binary(t))
		out, err := cmd.CombinedOutput()
		t.Logf("in a network namespace of its own:\n%s", out)
		if err != nil {
			t.Fatalf("the README's examples failed: %v", err)
		}
		return
	}
	blocks, err := readmeBlocks(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) < 5 {
		t.Fatalf("README.md marks %d examples with %s, want at least 5", len(blocks), readmeMarker)
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Skipf("ip link set lo up: %v %s", err, out)
	}
	bin := os.Getenv("EXSIM_BIN")
	dir := t.TempDir()
	env := append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"), "NO_COLOR=1")
	log := filepath.Join(dir, "up.log")
	up := exec.Command(bin, "up", "--log-level", "error")
	up.Dir, up.Env = dir, env
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	up.Stdout, up.Stderr = f, f
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { up.Process.Kill(); up.Wait() })
	output := func() string { b, _ := os.ReadFile(log); return string(b) }
	waitFor(t, func() bool { return strings.Contains(output(), "Ctrl-C stops") }, func() string { return "exsim up did not start:\n" + output() })
	waitFor(t, func() bool {
		cmd := exec.Command(bin, "edgesync", "status", "--format", "json")
		cmd.Dir, cmd.Env = dir, env
		b, _ := cmd.Output()
		var st []struct {
			Server           string
			RecipientEntries int `json:"recipient_entries"`
		}
		json.Unmarshal(b, &st)
		for _, s := range st {
			if s.Server == "EDGE01" && s.RecipientEntries > 0 {
				return true
			}
		}
		return false
	}, func() string { return "EdgeSync never reached EDGE01" })

	for _, b := range blocks {
		t.Run(fmt.Sprintf("README.md:%d", b.line), func(t *testing.T) {
			for _, tool := range readmeTools {
				if regexp.MustCompile(`(^|[\s|(;&])` + tool + `\s`).MatchString(b.script) {
					if _, err := exec.LookPath(tool); err != nil {
						t.Skipf("README.md:%d needs %s, which is not installed", b.line, tool)
					}
				}
			}
			// swaks speaks TLS only through these Perl modules (.ci/run).
			if strings.Contains(b.script, "swaks ") && strings.Contains(b.script, "--tls") && exec.Command("perl", "-MNet::SSLeay", "-MIO::Socket::SSL", "-e", "1").Run() != nil {
				t.Skipf("README.md:%d runs swaks --tls, which needs the Perl modules Net::SSLeay and IO::Socket::SSL (libnet-ssleay-perl, libio-socket-ssl-perl)", b.line)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", b.script)
			cmd.Dir, cmd.Env = dir, env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("README.md:%d: %v\n%s\n---\n%s", b.line, err, b.script, out)
			}
		})
	}
}
