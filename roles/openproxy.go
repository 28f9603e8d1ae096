package roles

import (
	"context"
	"net/netip"

	"github.com/exsim/exsim/servers/proxyd"
	"github.com/exsim/exsim/topology"
)

// startOpenProxy makes the internet server impersonate an open proxy on
// the ports the Edge's open proxy detection tests, when the topology asks
// for it (internet.open_proxy). It relays only to servers of the lab.
func (r *internetRole) startOpenProxy(ctx context.Context) error {
	s := r.s
	kinds := map[topology.ListenerKind]proxyd.Protocol{
		topology.ProxySOCKS:   proxyd.SOCKS,
		topology.ProxyWingate: proxyd.Wingate,
		topology.ProxyHTTP:    proxyd.HTTP,
	}
	guard := s.rt.guard
	res := s.resolver()
	for kind, proto := range kinds {
		err := s.serveEach(kind, nil, "open proxy listener stopped", proxyd.ErrServerClosed, func(l topology.Listener) (servable, error) {
			return proxyd.NewServer(proxyd.Options{
				Protocol: proto,
				Allow:    func(ap netip.AddrPort) bool { return guard.Allowed(ap.Addr()) },
				Dial:     s.dialer.DialContext,
				Resolve:  res.LookupHost,
				Name:     s.Config.Name,
				Logger:   s.log.With("listener", l.Name),
			}), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
