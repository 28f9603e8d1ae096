package httpd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/exsim/exsim/internal/oab"
)

// The Offline Address Book's one offline address list: the Default Global
// Address List. MS-OXWOAB gives the OAL element's attributes (the list's
// GUID, DN and name) but no values; "/" for the GAL's DN and the name with
// its leading backslash are those of Exchange 2013+ manifests as they are
// quoted in troubleshooting material, not checked against a live server.
const (
	galName = `\Global Address List`
	galDN   = "/"
)

// serveOAB is the OAB virtual directory (MS-OXWOAB web distribution):
// /OAB/<guid>/oab.xml, the manifest, and /OAB/<guid>/<file>.lzx, the full
// file it names, both behind Integrated Windows authentication only. Like
// IIS, it authenticates before it looks the file up: a wrong GUID or file
// name is 401 without credentials and 404 with them. The files are served
// with http.ServeContent, so HEAD and Range requests (BITS, which Outlook
// downloads the OAB with) work.
func (h *Handler) serveOAB(w http.ResponseWriter, r *http.Request, rest string, log *slog.Logger) {
	u := h.authenticate(w, r, vdirOAB, log)
	if u == nil {
		return
	}
	setRaw(w.Header(), "X-CalculatedBETarget", u.HomeFQDN)
	guid, file, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	if guid != strings.ToLower(h.cfg.OABID) || file == "" || strings.Contains(file, "/") {
		h.cfg.writeIISError(w, r, errNotFound)
		return
	}
	if !allow(w, r, h.cfg, http.MethodGet, http.MethodHead) {
		return
	}
	pub, at, err := h.oab.current(r.Context(), h.b, h.cfg)
	if err != nil {
		log.Error("oab: address book", "err", err)
		h.cfg.writeIISError(w, r, errInternal)
		return
	}
	var body []byte
	switch file {
	case "oab.xml":
		w.Header().Set("Content-Type", "text/xml")
		body = pub.Manifest
	case pub.FullName:
		w.Header().Set("Content-Type", "application/octet-stream")
		body = pub.Full
	default:
		h.cfg.writeIISError(w, r, errNotFound)
		return
	}
	log.Info("oab download", "rcpt", u.Address, "file", file, "size", len(body))
	http.ServeContent(w, r, file, at, bytes.NewReader(body))
}

// oabPublisher keeps the OAB generation last published: a new one, with
// the next sequence number, only when the address book changed, as
// Exchange's OAB generator increments seq only for a data set that is not
// identical to the previous one (MS-OXWOAB's OAL data sequence number).
// The sequence starts at 1 with the process.
type oabPublisher struct {
	mu  sync.Mutex
	key [sha256.Size]byte
	seq uint32
	pub *oab.Published
	at  time.Time
}

func (p *oabPublisher) current(ctx context.Context, b Backend, c *config) (*oab.Published, time.Time, error) {
	entries, err := addressBook(ctx, b, c)
	if err != nil {
		return nil, time.Time{}, err
	}
	book := oab.Book{Name: galName, DN: galDN, GUID: galGUID(c), Entries: entries}
	details, err := oab.WriteDetails(book) // sequence 0: the data alone
	if err != nil {
		return nil, time.Time{}, err
	}
	key := sha256.Sum256(details)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pub != nil && key == p.key {
		return p.pub, p.at, nil
	}
	book.Sequence = p.seq + 1
	pub, err := oab.Publish(book)
	if err != nil {
		return nil, time.Time{}, err
	}
	p.key, p.seq, p.pub, p.at = key, book.Sequence, pub, c.Now().UTC().Truncate(time.Second)
	return pub, p.at, nil
}

// galGUID is the Default Global Address List's objectGUID, the manifest's
// OAL id: stable for the organization, as OABID is.
func galGUID(c *config) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("exsim:gal:"+strings.ToLower(c.OABID))).String()
}
