package report

import (
	"encoding/json"
	"io"

	"github.com/exsim/exsim/probe"
)

// JSONReport is the document WriteJSON writes.
type JSONReport struct {
	Summary JSONSummary  `json:"summary"`
	Results []JSONResult `json:"results"`
}

// JSONSummary counts the flows.
type JSONSummary struct {
	Flows  int `json:"flows"`
	Passed int `json:"passed"`
	Failed int `json:"failed"`
}

// JSONResult is one flow (its fields inline) and what the probe found.
type JSONResult struct {
	probe.Flow
	// Outcome is one of probe.Outcomes, or "error" when the check could
	// not run (Error says why).
	Outcome    string  `json:"outcome"`
	Pass       bool    `json:"pass"`
	Detail     string  `json:"detail"`
	DurationMS float64 `json:"duration_ms"`
	Error      string  `json:"error,omitempty"`
}

// WriteJSON writes the results, in catalogue order, as an indented
// JSONReport.
func WriteJSON(w io.Writer, results []probe.Result) error {
	s := probe.Summarize(results)
	doc := JSONReport{
		Summary: JSONSummary{Flows: s.Flows, Passed: s.Passed, Failed: s.Failed},
		Results: make([]JSONResult, 0, len(results)),
	}
	for _, r := range results {
		doc.Results = append(doc.Results, JSONResult{
			Flow: r.Flow, Outcome: outcome(r), Pass: r.Pass, Detail: r.Detail,
			DurationMS: float64(r.Duration.Microseconds()) / 1000, Error: r.Error,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
