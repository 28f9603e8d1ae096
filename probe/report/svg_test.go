package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/exsim/exsim/probe"
	"github.com/exsim/exsim/topology"
)

// svgElem is what the structural checks read from the SVG.
type svgElem struct {
	name  string
	attrs map[string]string
	text  string
}

func parseSVG(t *testing.T, b []byte) []svgElem {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var out []svgElem
	var stack []int
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("WriteSVG is not well-formed XML: %v", err)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			e := svgElem{name: v.Name.Local, attrs: map[string]string{}}
			for _, a := range v.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			out = append(out, e)
			stack = append(stack, len(out)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			for _, i := range stack {
				out[i].text += string(v)
			}
		}
	}
	return out
}

func svgFor(t *testing.T, topo *topology.Topology, results []probe.Result) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSVG(&b, topo, results); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWriteSVGStructure(t *testing.T) {
	topo := builtin(t, "contoso")
	topo.Organization = `Contoso <&> "Lab"`
	results := sample(topo, contosoBroken)
	elems := parseSVG(t, svgFor(t, topo, results))
	if elems[0].name != "svg" || elems[0].attrs["viewBox"] == "" {
		t.Fatalf("root = %+v, want <svg viewBox>", elems[0])
	}
	all := elems[0].text
	for _, want := range []string{`Contoso <&> "Lab"`, fmt.Sprintf("%d flows, %d passed, 5 failed", len(results), len(results)-5), "INTERNET", "PERIMETER", "INTERNAL",
		"EDGE01", "EX01", "EX02", "DNS01", "INET01", "127.0.10.1", "edge01.contoso.com", "Edge Transport", "Legend"} {
		if !strings.Contains(all, want) {
			t.Errorf("WriteSVG text lacks %q", want)
		}
	}
	// Zones left to right: internet, perimeter, internal.
	x := map[string]float64{}
	for _, e := range elems {
		if e.name == "text" && (e.text == "INTERNET" || e.text == "PERIMETER" || e.text == "INTERNAL") {
			x[e.text], _ = strconv.ParseFloat(e.attrs["x"], 64)
		}
	}
	if !(x["INTERNET"] < x["PERIMETER"] && x["PERIMETER"] < x["INTERNAL"]) {
		t.Errorf("zone x positions = %v, want internet < perimeter < internal", x)
	}
	// Arrows: green and red, a dashed one for the closed flow that answered.
	var green, red, dashed int
	for _, e := range elems {
		if e.name != "path" || e.attrs["marker-end"] == "" || !strings.Contains(e.attrs["d"], "C") {
			continue // arrowheads and the legend's straight samples
		}
		if !strings.Contains(e.text, "-") {
			t.Errorf("arrow %s has no tooltip listing its flows", e.attrs["d"])
		}
		switch e.attrs["stroke"] {
		case colGreen:
			green++
		case colRed:
			red++
			if e.attrs["stroke-dasharray"] != "" {
				dashed++
			}
		}
	}
	// Failing pairs: EX01->EDGE01 (EdgeSync), INET01->EX01 (IMAP),
	// INET01->EX01 closed 25 (dashed), EDGE01->INET01 (3128), EX01->EX02 (RPC).
	if red != 5 || dashed != 1 || green == 0 {
		t.Errorf("WriteSVG arrows: %d green, %d red (%d dashed); want some green, 5 red, 1 dashed", green, red, dashed)
	}
	// The failing port is labelled in red.
	found := false
	for _, e := range elems {
		if e.name == "tspan" && e.attrs["fill"] == colRed && e.text == "50636" {
			found = true
		}
	}
	if !found {
		t.Errorf("WriteSVG: no red 50636 label")
	}
}

// TestWriteSVGRender renders the pictures of both built-in labs to PNG and
// checks they decode. go test -run SVGRender -keep DIR keeps the files.
func TestWriteSVGRender(t *testing.T) {
	render := renderer(t)
	cases := []struct {
		name   string
		topo   string
		broken map[string]probe.Outcome
	}{
		{"contoso-failures", "contoso", contosoBroken},
		{"contoso-pass", "contoso", nil},
		{"contoso-noedge", "contoso-noedge", map[string]probe.Outcome{"outbound-feproxy-EX02-INET01-25": probe.OutcomeFiltered}},
		{"contoso-no-firewall", "contoso", allOpen(builtin(t, "contoso"))},
	}
	dir := *keep
	if dir == "" {
		dir = t.TempDir()
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			topo := builtin(t, tc.topo)
			svgPath := filepath.Join(dir, tc.name+".svg")
			if err := os.WriteFile(svgPath, svgFor(t, topo, sample(topo, tc.broken)), 0o644); err != nil {
				t.Fatal(err)
			}
			pngPath := filepath.Join(dir, tc.name+".png")
			render(t, svgPath, pngPath)
			f, err := os.Open(pngPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("rendered PNG does not decode: %v", err)
			}
			if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 300 {
				t.Errorf("rendered PNG is %v, want a real picture", b)
			}
		})
	}
}

// allOpen is a lab without a firewall: every closed flow answers.
func allOpen(topo *topology.Topology) map[string]probe.Outcome {
	m := map[string]probe.Outcome{}
	for _, f := range probe.Flows(topo) {
		if f.Expect == probe.ExpectClosed {
			m[f.ID] = probe.OutcomeOpen
		}
	}
	return m
}

// renderer returns an SVG-to-PNG function: rsvg-convert, else headless
// chromium; it skips the test when neither is installed.
func renderer(t *testing.T) func(t *testing.T, svg, png string) {
	t.Helper()
	if p, err := exec.LookPath("rsvg-convert"); err == nil {
		return func(t *testing.T, svg, png string) {
			if out, err := exec.Command(p, "-o", png, svg).CombinedOutput(); err != nil {
				t.Fatalf("rsvg-convert: %v\n%s", err, out)
			}
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return func(t *testing.T, svg, png string) {
				abs, _ := filepath.Abs(svg)
				cmd := exec.Command(p, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
					"--screenshot="+png, "--window-size=1400,900", "file://"+abs)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s --screenshot: %v\n%s", name, err, out)
				}
			}
		}
	}
	t.Skip("neither rsvg-convert (apt-get install librsvg2-bin) nor chromium is installed; SVG rendering skipped")
	return nil
}
