//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// BecomeRouter makes the calling process's network namespace the lab's
// firewall, as the firewall container of the compose file does: it checks
// that forwarding is on (compose sets the sysctl; a container cannot),
// removes every default route, so that the firewall routes only between
// the zones it is attached to and nothing it forwards can leave them, and
// programs the ruleset over netlink (the image has no nft binary). It
// needs CAP_NET_ADMIN. It returns the routes it removed, for the log.
func BecomeRouter(rs *Ruleset) (removed []string, err error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return nil, fmt.Errorf("firewall: %w", err)
	}
	if strings.TrimSpace(string(b)) != "1" {
		return nil, fmt.Errorf("firewall: IPv4 forwarding is off; the container needs sysctls: net.ipv4.ip_forward: \"1\"")
	}
	if removed, err = removeDefaultRoutes(); err != nil {
		return removed, err
	}
	if err := rs.Apply(-1); err != nil {
		return removed, err
	}
	return removed, nil
}

func removeDefaultRoutes() ([]string, error) {
	var removed []string
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlink.RouteList(nil, fam)
		if err != nil {
			return removed, fmt.Errorf("firewall: routes: %w", err)
		}
		for _, r := range routes {
			if !isDefault(r) {
				continue
			}
			if err := netlink.RouteDel(&r); err != nil {
				return removed, fmt.Errorf("firewall: remove default route via %s: %w", r.Gw, err)
			}
			removed = append(removed, "default via "+r.Gw.String())
		}
	}
	return removed, nil
}

// KeepNoDefaultRoute removes every default route that appears in the
// calling process's namespace until ctx ends, reporting each to removed:
// Docker connects a container's further networks, and may pick one as its
// gateway, after the container's process started.
func KeepNoDefaultRoute(ctx context.Context, removed func(string)) error {
	updates := make(chan netlink.RouteUpdate)
	done := make(chan struct{})
	if err := netlink.RouteSubscribe(updates, done); err != nil {
		return fmt.Errorf("firewall: watch routes: %w", err)
	}
	defer func() {
		close(done)
		for range updates { // until the subscription's goroutine closes it
		}
	}()
	// Subscribed: a route added from now on is seen; sweep what came before.
	rs, err := removeDefaultRoutes()
	for _, r := range rs {
		removed(r)
	}
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				return errors.New("firewall: route watch ended")
			}
			if u.Type != unix.RTM_NEWROUTE || !isDefault(u.Route) {
				continue
			}
			if err := netlink.RouteDel(&u.Route); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("firewall: remove default route via %s: %w", u.Route.Gw, err)
			}
			removed("default via " + u.Route.Gw.String())
		}
	}
}

func isDefault(r netlink.Route) bool {
	if r.Dst == nil {
		return r.Gw != nil
	}
	ones, _ := r.Dst.Mask.Size()
	a, ok := netip.AddrFromSlice(r.Dst.IP)
	return ok && ones == 0 && a.Unmap().IsUnspecified()
}
