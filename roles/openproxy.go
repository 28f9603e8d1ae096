package roles

import (
	"context"
	"errors"
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
		for _, l := range s.listenerOf(kind) {
			ln, err := s.listen(l)
			if err != nil {
				return err
			}
			if ln == nil {
				continue
			}
			srv := proxyd.NewServer(proxyd.Options{
				Protocol: proto,
				Allow:    func(ap netip.AddrPort) bool { return guard.Allowed(ap.Addr()) },
				Dial:     s.dialer.DialContext,
				Resolve:  res.LookupHost,
				Name:     s.Config.Name,
				Logger:   s.log.With("listener", l.Name),
			})
			s.onClose(srv.Shutdown)
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, proxyd.ErrServerClosed) {
					s.log.Error("open proxy listener stopped", "listener", l.Name, "err", err)
				}
			}()
		}
	}
	return nil
}
