package roles

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/exsim/exsim/servers/dnsd"
	"github.com/exsim/exsim/topology"
)

// dnsRole is the lab DNS server: authoritative for every zone the
// topology derives, UDP and TCP 53, never recursing.
type dnsRole struct{}

// Zones builds the lab's zone data from the topology.
func Zones(t *topology.Topology) (*dnsd.ZoneSet, error) {
	var zones []*dnsd.Zone
	for _, dz := range t.DNSZones() {
		z, err := dnsd.NewZone(dz.Origin, nil, t.NameServers())
		if err != nil {
			return nil, err
		}
		for _, r := range dz.Records {
			switch r.Type {
			case "A", "AAAA":
				err = z.AddAddr(r.Name, netip.MustParseAddr(r.Value))
			case "MX":
				err = z.AddMX(r.Name, r.Pref, r.Value)
			case "SRV":
				err = z.AddText(fmt.Sprintf("%s. %d IN SRV %d %d %d %s.", r.Name, dnsd.DefaultTTL, r.Pref, r.Weight, r.Port, r.Value))
			case "PTR":
				err = z.AddText(fmt.Sprintf("%s. %d IN PTR %s.", r.Name, dnsd.DefaultTTL, r.Value))
			}
			if err != nil {
				return nil, fmt.Errorf("dns zone %s: %s %s: %w", dz.Origin, r.Name, r.Type, err)
			}
		}
		zones = append(zones, z)
	}
	return dnsd.NewZoneSet(zones...)
}

func (r *dnsRole) start(ctx context.Context, s *Server) error {
	zs, err := Zones(s.rt.o.Topology)
	if err != nil {
		return err
	}
	srv := dnsd.New(zs, dnsd.Options{Name: s.Config.Name, Logger: s.log})
	s.onClose(func(ctx context.Context) error { return srv.Shutdown(ctx) })
	for _, l := range s.listenerOf(topology.DNSUDP) {
		pc, err := s.listenUDP(l)
		if err != nil {
			return err
		}
		go func() { logServe(s, l, srv.Serve(pc)) }()
	}
	for _, l := range s.listenerOf(topology.DNSTCP) {
		ln, err := s.listen(l)
		if err != nil {
			return err
		}
		go func() { logServe(s, l, srv.ServeTCP(ln)) }()
	}
	return nil
}

// logServe records why a listener stopped serving, unless it was closed.
func logServe(s *Server, l topology.Listener, err error) {
	if err == nil || errors.Is(err, dnsd.ErrServerClosed) {
		return
	}
	s.log.Debug("listener stopped", "listener", l.Name, "err", err)
}
