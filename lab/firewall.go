//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/exsim/exsim/topology"
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

// loadFirewallFile loads the user's ruleset file into the router
// namespace ns with nft and checks that it can filter the lab at all: the
// router forwards between the zones, so only a chain on the forward hook
// of a family the lab's addresses use (inet, or ip / ip6) sees its
// traffic. A ruleset without one (an input/output-only host firewall, a
// typo in the hook) lets every flow through, which the probe would report
// as every "closed" flow open; this says what is wrong instead. Either
// failure is a *FirewallError.
func loadFirewallFile(ns, file string, t *topology.Topology) error {
	rf, err := ReadRulesetFile(file, "", t)
	if err != nil {
		return &FirewallError{File: file, Err: err}
	}
	_, err = rf.Load(ns)
	return err
}

// checkForwardChain is loadFirewallFile's check of what namespace ns
// holds once the file loaded.
func checkForwardChain(ns, file string, t *topology.Topology) error {
	fd, err := openNetns(ns)
	if err != nil {
		return err
	}
	defer fd.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(fd)))
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", ns, err)
	}
	chains, err := c.ListChains()
	if err != nil {
		return fmt.Errorf("nftables in %s: list chains: %w", ns, err)
	}
	need := []nftables.TableFamily{nftables.TableFamilyINet}
	names := []string{"inet"}
	var servers []topology.Server
	if t != nil {
		servers = t.Servers
	}
	for _, s := range servers {
		if fam, name := nftables.TableFamilyIPv4, "ip"; s.Addr().Is4() && !slices.Contains(need, fam) {
			need, names = append(need, fam), append(names, name)
		} else if fam, name := nftables.TableFamilyIPv6, "ip6"; s.Addr().Is6() && !slices.Contains(need, fam) {
			need, names = append(need, fam), append(names, name)
		}
	}
	for _, ch := range chains {
		if ch.Hooknum != nil && *ch.Hooknum == *nftables.ChainHookForward && ch.Table != nil && slices.Contains(need, ch.Table.Family) {
			return nil
		}
	}
	return &FirewallError{File: file, Err: fmt.Errorf("firewall %s: it loaded, but has no chain on the forward hook (family %s): "+
		"the lab's router forwards between the zones, so without one nothing is filtered and every flow that must be closed is open. "+
		"Put your rules in a base chain such as\n  table inet filter {\n    chain forward {\n      type filter hook forward priority filter; policy drop;\n      ...\n    }\n  }\n"+
		"(exsim export nftables writes the documented minimum)", file, strings.Join(names, ", "))}
}

// flushConntrack forgets every connection namespace ns tracks, so that no
// flow rides on what an earlier ruleset accepted.
func flushConntrack(ns string) error {
	h, done, err := nsHandle(ns)
	if err != nil {
		return err
	}
	defer done()
	if err := h.ConntrackTableFlush(netlink.ConntrackTable); err != nil {
		return fmt.Errorf("router %s: flush conntrack: %w", ns, err)
	}
	return nil
}
