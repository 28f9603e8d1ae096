package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exsim/exsim/internal/control"
)

// newHealthcheckCmd is the health check of a container: the images are
// FROM scratch, so there is no curl to ask the admin address; the binary
// asks it itself.
func newHealthcheckCmd(g *globals) *cobra.Command {
	var ready bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the exsim process on --admin is healthy (/healthz) or ready (--ready: /readyz)",
		Long: `Asks the admin address of a running exsim (--admin, default 127.0.0.1:9925) for
/healthz, or with --ready for /readyz (every listener bound and, on an Edge, the first
EdgeSync done). Neither needs the admin token. Exit code 0 when it answers 200, 1
otherwise, with the answer on standard error: for container health checks.`,
		Example: `  exsim healthcheck
  exsim healthcheck --ready --admin 127.0.0.1:9925`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u := g.adminURL
			if u == "" {
				u = control.DefaultAddr
			}
			if !strings.Contains(u, "://") {
				u = "http://" + u
			}
			path := control.HealthzPath
			if ready {
				path = control.ReadyzPath
			}
			c := &http.Client{Timeout: timeout}
			resp, err := c.Get(strings.TrimRight(u, "/") + path)
			if err != nil {
				return checkFailed("%s: %v", path, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			text := strings.TrimSpace(string(body))
			if resp.StatusCode != http.StatusOK {
				return checkFailed("%s: %s: %s", path, resp.Status, text)
			}
			fmt.Fprintln(g.stdout, text)
			return nil
		},
	}
	cmd.Flags().BoolVar(&ready, "ready", false, "ask /readyz (ready to take mail) instead of /healthz (alive)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}
