package roles

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/exsim/exsim/internal/control"
	"github.com/exsim/exsim/roles/edgesync"
	"github.com/exsim/exsim/servers/ldapd"
	"github.com/exsim/exsim/store/directory"
	"github.com/exsim/exsim/topology"
)

// The Edge Subscription on disk, in the Edge's directory: the file
// New-EdgeSubscription exports, and which Mailbox servers import it.
const (
	subscriptionFile = "EdgeSubscription.xml"
	participantsFile = "EdgeSubscription.participants.json"
	// subscriptionValidity is the bootstrap account's lifetime.
	subscriptionValidity = 24 * time.Hour
)

// The Edge's directory is what its LDAP listeners serve.
var _ ldapd.Backend = (*directory.Tree)(nil)

// startDirectory starts the Edge's AD LDS: the directory EdgeSync writes,
// LDAPS on 50636 and plain LDAP on 50389 (loopback only), and the Edge
// Subscription when the topology says the Edge is subscribed.
func (r *edgeRole) startDirectory(ctx context.Context) error {
	s := r.s
	tree, err := directory.OpenTree(filepath.Join(s.dir, "ADAM", "adamntds.json"))
	if err != nil {
		var de *directory.DamagedFileError
		if !errors.As(err, &de) {
			return err
		}
		s.log.Error("AD LDS directory damaged; starting empty (EdgeSync fills it again)", "err", err)
	}
	s.onClose(func(context.Context) error { return tree.Close() })
	edge, err := edgesync.NewEdge(tree, edgesync.EdgeOptions{Name: s.Config.Name, FQDN: s.Config.FQDN, Now: s.rt.o.Now})
	if err != nil {
		return err
	}
	r.edge = edge
	r.dir = newEdgeDir(edge.View(), tree)
	if s.Config.Edge.Subscribed {
		if _, err := os.Stat(filepath.Join(s.dir, subscriptionFile)); err != nil || !edge.Subscribed() {
			if err := r.newSubscription(nil); err != nil {
				return err
			}
		}
	}
	opts, err := edge.ServerOptions()
	if err != nil {
		return err
	}
	opts.Logger = s.log
	ldaps := s.rt.ca.ServerTLS(s.cert)
	for _, l := range []struct {
		kind     topology.ListenerKind
		implicit *tls.Config
	}{{topology.LDAPS, ldaps}, {topology.LDAP, nil}} {
		err := s.serveEach(l.kind, l.implicit, "AD LDS listener stopped", ldapd.ErrServerClosed, func(topology.Listener) (servable, error) {
			return ldapd.NewServer(tree, opts)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// newSubscription is New-EdgeSubscription: a new file with a bootstrap
// account, and the list of Mailbox servers that import it (the topology's
// edge_sync servers, or on renewal the given ones).
func (r *edgeRole) newSubscription(participants []string) error {
	if participants == nil {
		for _, m := range r.t.EdgeSyncParticipants() {
			participants = append(participants, m.Name)
		}
	}
	f, err := r.edge.NewSubscription(r.s.rt.ca.PEM(), subscriptionValidity)
	if err != nil {
		return err
	}
	b, err := f.Marshal()
	if err != nil {
		return err
	}
	pb, _ := json.Marshal(participants)
	if err := writeAtomic(filepath.Join(r.s.dir, participantsFile), pb); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(r.s.dir, subscriptionFile), b); err != nil {
		return err
	}
	r.s.log.Info("Edge Subscription created", "code", strings.Join(participants, ","))
	return nil
}

// watchEdgeSync resubmits messages waiting for EdgeSync (the Unreachable
// queue) when configuration arrives, and says when the data goes stale.
func (r *edgeRole) watchEdgeSync(ctx context.Context) {
	var last time.Time
	stale := false
	maxAge := 3 * max(r.timers.EdgeSyncConfigurationInterval, r.timers.EdgeSyncRecipientInterval)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v := r.edge.View()
		if lc := v.LastConfigSync(); lc.After(last) {
			last = lc
			r.tr.Reroute()
		}
		if now := v.Stale(maxAge); now != stale && !last.IsZero() {
			stale = now
			if stale {
				r.s.log.Warn("EdgeSync data is stale: no synchronisation from the Mailbox servers; recipient validation uses the last data", "code", v.LastSync().Format(time.RFC3339))
			} else {
				r.s.log.Info("EdgeSync data fresh again")
			}
		}
	}
}

// edgeDir adapts EdgeView to what the Edge's transport asks. What every
// message asks (synchronized yet, accepted domains, the site's servers) is
// kept until the directory changes (its update sequence number moves),
// instead of searching AD LDS and parsing its DNs for every message.
type edgeDir struct {
	v   *edgesync.EdgeView
	usn func() int64 // the directory's update sequence number
	c   *edgeDirCache
}

func newEdgeDir(v *edgesync.EdgeView, tree *directory.Tree) edgeDir {
	return edgeDir{v: v, usn: tree.USN, c: &edgeDirCache{}}
}

// edgeDirCache holds answers for the directory at usn.
type edgeDirCache struct {
	mu       sync.Mutex
	usn      int64
	synced   int8            // 0 not asked, 1 no, 2 yes
	accepted map[string]bool // by domain as asked
	servers  bool            // mailbox and site are filled
	mailbox  []string
	site     []string
}

// maxCachedDomains bounds the accepted-domain answers kept: senders name
// any domain they like.
const maxCachedDomains = 4096

// lock locks the cache, emptied first when the directory changed; the
// caller unlocks. The directory is read after usn, so an answer computed
// while it changes is stored under the older number and not used again.
func (d edgeDir) lock() *edgeDirCache {
	usn := d.usn()
	c := d.c
	c.mu.Lock()
	if c.accepted == nil || c.usn != usn || len(c.accepted) > maxCachedDomains {
		c.usn, c.synced, c.accepted, c.servers, c.mailbox, c.site = usn, 0, map[string]bool{}, false, nil, nil
	}
	return c
}

func (d edgeDir) Synchronized() bool {
	c := d.lock()
	defer c.mu.Unlock()
	if c.synced == 0 {
		c.synced = 1
		if !d.v.LastConfigSync().IsZero() {
			c.synced = 2
		}
	}
	return c.synced == 2
}

func (d edgeDir) IsAcceptedDomain(domain string) bool {
	c := d.lock()
	defer c.mu.Unlock()
	ok, known := c.accepted[domain]
	if !known {
		_, ok = d.v.AcceptedDomain(domain)
		c.accepted[domain] = ok
	}
	return ok
}

func (d edgeDir) KnownRecipient(addr string) (bool, bool) { return d.v.KnownRecipient(addr) }

func (d edgeDir) MailboxServers() []string {
	c := d.lock()
	defer c.mu.Unlock()
	d.fillServers(c)
	return slices.Clone(c.mailbox)
}

func (d edgeDir) SiteServers() []string {
	c := d.lock()
	defer c.mu.Unlock()
	d.fillServers(c)
	return slices.Clone(c.site)
}

func (d edgeDir) fillServers(c *edgeDirCache) {
	if c.servers {
		return
	}
	c.servers = true
	for _, s := range d.v.SiteServers() {
		c.site = append(c.site, s.FQDN)
		if s.Participant {
			c.mailbox = append(c.mailbox, s.FQDN)
		}
	}
}

// edgeSyncState is a Mailbox server's EdgeSync push to one Edge.
type edgeSyncState struct {
	mu     sync.Mutex
	edge   *topology.Server
	syncer *edgesync.Syncer
	part   bool
	err    string
}

// startEdgeSync runs EdgeSync from this Mailbox server to every subscribed
// Edge it takes part in: it imports the Edge Subscription file (once for
// every participant, as the import does in Active Directory) and pushes
// configuration and recipients on the topology's intervals.
func (r *mailboxRole) startEdgeSync(ctx context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	r.s.onClose(func(context.Context) error { cancel(); wg.Wait(); return nil })
	for _, edge := range r.t.SubscribedEdges() {
		st := &edgeSyncState{edge: edge}
		r.edgeSync = append(r.edgeSync, st)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runEdgeSync(ctx, st)
		}()
	}
	return nil
}

func (r *mailboxRole) runEdgeSync(ctx context.Context, st *edgeSyncState) {
	// The Edge starts after the Mailbox servers and writes its
	// subscription file then: look again soon, then every second.
	wait := 50 * time.Millisecond
	for ctx.Err() == nil {
		creds, part, err := r.edgeSyncCredentials(st.edge)
		st.mu.Lock()
		st.part = part
		if err != nil {
			st.err = err.Error()
		}
		st.mu.Unlock()
		if creds == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, time.Second)
			continue
		}
		syncer, err := edgesync.NewSyncer(edgesync.Options{
			EdgeAddress:       net.JoinHostPort(st.edge.Address, strconv.Itoa(r.t.Port(50636))),
			TLSConfig:         r.s.clientTLS(st.edge.FQDN),
			Dial:              r.s.dialer.DialContext,
			Credentials:       creds,
			ConfigInterval:    r.timers.EdgeSyncConfigurationInterval,
			RecipientInterval: r.timers.EdgeSyncRecipientInterval,
			Snapshot:          r.edgeSyncSnapshot,
			Logger:            r.s.log.With("hop", st.edge.Name),
			Now:               r.s.rt.o.Now,
		})
		if err != nil {
			r.s.log.Error("EdgeSync", "err", err)
			return
		}
		st.mu.Lock()
		st.syncer, st.err = syncer, ""
		st.mu.Unlock()
		// Run until a renewed subscription replaces the credentials.
		rctx, stop := context.WithCancel(ctx)
		go func() {
			for rctx.Err() == nil {
				select {
				case <-rctx.Done():
				case <-time.After(2 * time.Second):
					if c, _, _ := r.edgeSyncCredentials(st.edge); c != nil && !c.Effective.Equal(creds.Effective) {
						r.s.log.Info("Edge Subscription renewed; importing", "hop", st.edge.Name)
						stop()
					}
				}
			}
		}()
		syncer.Run(rctx)
		stop()
	}
}

// edgeSyncSnapshot is what EdgeSync replicates: the organization's accepted
// domains, the site's Mailbox servers, the subscription's Send connectors,
// and the recipients (hashes of every mailbox address in an accepted domain).
func (r *mailboxRole) edgeSyncSnapshot(ctx context.Context) (edgesync.Config, edgesync.Recipients, error) {
	cfg := edgesync.Config{Organization: r.t.Organization, Site: r.t.Site, SendConnectors: edgesync.SubscriptionConnectors(r.t.Site)}
	for i, d := range r.t.AcceptedDomains {
		cfg.AcceptedDomains = append(cfg.AcceptedDomains, edgesync.AcceptedDomain{Name: d, Type: edgesync.Authoritative, Default: i == 0})
	}
	parts := r.participants(r.t.SubscribedEdges()[0])
	for _, m := range r.t.ServersByRole(topology.RoleMailbox) {
		cfg.MailboxServers = append(cfg.MailboxServers, edgesync.Server{Name: m.Name, FQDN: m.FQDN, Address: m.Address, Participant: slices.Contains(parts, m.Name)})
	}
	var addrs []string
	for _, m := range r.t.Mailboxes {
		if r.t.IsAcceptedDomain(topology.Domain(m.Address)) {
			addrs = append(addrs, m.Address)
		}
	}
	return cfg, edgesync.RecipientsOf(addrs, nil, nil), nil
}

// participants lists the Mailbox servers that import an Edge's current
// subscription (renewal may add servers the topology marks as late).
func (r *mailboxRole) participants(edge *topology.Server) []string {
	b, err := os.ReadFile(filepath.Join(r.s.rt.o.DataDir, edge.Name, participantsFile))
	var names []string
	if err != nil || json.Unmarshal(b, &names) != nil {
		for _, m := range r.t.EdgeSyncParticipants() {
			names = append(names, m.Name)
		}
	}
	return names
}

// edgeSyncCredentials returns this server's replication credentials for an
// Edge, importing the subscription file when needed. It reports whether the
// server takes part at all.
func (r *mailboxRole) edgeSyncCredentials(edge *topology.Server) (*edgesync.Credentials, bool, error) {
	dataDir := r.s.rt.o.DataDir
	parts := r.participants(edge)
	if !slices.Contains(parts, r.s.Config.Name) {
		return nil, false, nil
	}
	raw, err := os.ReadFile(filepath.Join(dataDir, edge.Name, subscriptionFile))
	if err != nil {
		return nil, true, fmt.Errorf("waiting for the Edge Subscription file of %s", edge.Name)
	}
	file, err := edgesync.ParseSubscriptionFile(raw)
	if err != nil {
		return nil, true, err
	}
	credPath := func(server string) string {
		return filepath.Join(dataDir, server, "EdgeSync-"+edge.Name+".json")
	}
	if c, err := edgesync.LoadCredentials(credPath(r.s.Config.Name)); err == nil && c.Effective.Equal(file.Effective()) {
		return c, true, nil
	}
	// Import once for every participant, under a lock shared by the
	// processes of a multi-process lab.
	unlock, err := lockFile(filepath.Join(dataDir, edge.Name, ".import.lock"))
	if err != nil {
		return nil, true, err
	}
	defer unlock()
	if c, err := edgesync.LoadCredentials(credPath(r.s.Config.Name)); err == nil && c.Effective.Equal(file.Effective()) {
		return c, true, nil
	}
	var servers []edgesync.Server
	for _, n := range parts {
		if m := r.t.Server(n); m != nil {
			servers = append(servers, edgesync.Server{Name: m.Name, FQDN: m.FQDN, Address: m.Address, Participant: true})
		}
	}
	all, err := edgesync.Import(file, servers, r.s.rt.o.Now())
	if err != nil {
		return nil, true, err
	}
	for name, c := range all {
		if err := c.Save(credPath(name)); err != nil {
			return nil, true, err
		}
	}
	r.s.log.Info("Edge Subscription imported", "hop", edge.Name, "code", strings.Join(parts, ","))
	return all[r.s.Config.Name], true, nil
}

// EdgeSync reports a server's EdgeSync state (admin API).
func (rt *Runtime) EdgeSync(server string) (control.EdgeSyncStatus, error) {
	s, err := rt.serverOf(server)
	if err != nil {
		return control.EdgeSyncStatus{}, err
	}
	out := control.EdgeSyncStatus{Server: s.Config.Name, Role: string(s.Config.Role)}
	switch r := s.role.(type) {
	case *edgeRole:
		v := r.edge.View()
		out.Participates = r.edge.Subscribed()
		out.LastSuccess = v.LastSync()
		// Recipients count once their sync has finished (its time is
		// written after the entries): before that the Edge still accepts
		// unknown recipients (EdgeView.KnownRecipient), and a status that
		// counted them would say otherwise.
		if !v.LastRecipientSync().IsZero() {
			out.RecipientEntries = v.RecipientCount()
		}
		out.ConfigEntries = v.ConfigCount()
		for _, d := range v.AcceptedDomains() {
			out.AcceptedDomains = append(out.AcceptedDomains, d.Name)
		}
		for _, m := range v.MailboxServers() {
			out.MailboxServers = append(out.MailboxServers, m.Name)
		}
		out.Stale = v.Stale(3 * max(r.timers.EdgeSyncConfigurationInterval, r.timers.EdgeSyncRecipientInterval))
	case *mailboxRole:
		for _, st := range r.edgeSync {
			st.mu.Lock()
			out.Edge, out.Participates, out.LastError = st.edge.Name, st.part, st.err
			if st.syncer != nil {
				ss := st.syncer.Status()
				out.LastAttempt, out.LastSuccess, out.ConfigEntries, out.RecipientEntries = ss.LastAttempt, ss.LastSuccess, ss.ConfigEntries, ss.RecipientEntries
				if ss.LastError != "" {
					out.LastError = ss.LastError
				}
			}
			st.mu.Unlock()
		}
	default:
		return out, &control.BadInputError{Msg: fmt.Sprintf("%s is a %s server: EdgeSync runs between Mailbox and Edge servers", s.Config.Name, s.Config.Role)}
	}
	return out, nil
}

// RenewEdgeSubscription is New-EdgeSubscription run again on an Edge: a new
// file that every Mailbox server of the site imports (servers added after
// the first subscription take part from now on), or only the named ones.
func (rt *Runtime) RenewEdgeSubscription(server string, participants []string) error {
	s, err := rt.serverOf(server)
	if err != nil {
		return err
	}
	r, ok := s.role.(*edgeRole)
	if !ok {
		return &control.BadInputError{Msg: s.Config.Name + " is not an Edge Transport server"}
	}
	if len(participants) == 0 {
		for _, m := range rt.o.Topology.ServersByRole(topology.RoleMailbox) {
			participants = append(participants, m.Name)
		}
	}
	for _, p := range participants {
		if m := rt.o.Topology.Server(p); m == nil || m.Role != topology.RoleMailbox {
			return &control.BadInputError{Msg: fmt.Sprintf("%q is not a Mailbox server", p)}
		}
	}
	return r.newSubscription(participants)
}

func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
