package oab

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Download limits: a manifest is a few hundred bytes per address list, and
// an OAB of 256 MB is far beyond any lab's.
const (
	maxManifest = 1 << 20
	maxFullFile = 256 << 20
)

// Fetch downloads the Offline Address Book an OAB URL publishes and
// returns its entries. oabURL is Autodiscover's OABUrl
// (https://host/OAB/<guid>/) or the manifest's own URL (.../oab.xml).
// Exchange's OAB virtual directory takes only Negotiate and NTLM: give a
// client whose transport is go-ntlmssp's Negotiator and the account's
// user and password (see FetchDetails), or a client that authenticates
// by itself and an empty user.
func Fetch(ctx context.Context, client *http.Client, oabURL, user, password string) ([]Entry, error) {
	d, err := FetchDetails(ctx, client, oabURL, user, password)
	if err != nil {
		return nil, err
	}
	return d.Entries, nil
}

// FetchDetails is Fetch returning the whole parsed file: it reads the
// manifest, takes the first address list with a version 4 full file,
// downloads that file, checks its size and SHA-1 against the manifest,
// unpacks it, checks the uncompressed size, and parses it. user and
// password, when user is not empty, go on every request as Basic
// credentials, which go-ntlmssp's Negotiator turns into NTLM.
func FetchDetails(ctx context.Context, client *http.Client, oabURL, user, password string) (*Details, error) {
	base, err := url.Parse(oabURL)
	if err != nil {
		return nil, fmt.Errorf("oab: OAB URL %q: %w", oabURL, err)
	}
	if !strings.HasSuffix(strings.ToLower(base.Path), "/oab.xml") {
		if !strings.HasSuffix(base.Path, "/") {
			base.Path += "/"
		}
		base = base.JoinPath("oab.xml")
	}
	get := func(u *url.URL, limit int64) ([]byte, error) {
		return download(ctx, client, u.String(), user, password, limit)
	}
	mb, err := get(base, maxManifest)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(mb)
	if err != nil {
		return nil, err
	}
	f := m.fullV4()
	if f == nil {
		return nil, errors.New("oab: manifest lists no version 4 full file (<Full ver=\"32\">)")
	}
	full, err := get(base.ResolveReference(&url.URL{Path: f.Name}), maxFullFile)
	if err != nil {
		return nil, err
	}
	if int64(len(full)) != f.Size {
		return nil, fmt.Errorf("oab: %s is %d bytes, the manifest says %d", f.Name, len(full), f.Size)
	}
	if sum := sha1.Sum(full); !strings.EqualFold(hex.EncodeToString(sum[:]), f.SHA) {
		return nil, fmt.Errorf("oab: %s has SHA-1 %x, the manifest says %s", f.Name, sum, f.SHA)
	}
	details, err := Unpack(full)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if int64(len(details)) != f.UncompressedSize {
		return nil, fmt.Errorf("oab: %s unpacks to %d bytes, the manifest says %d", f.Name, len(details), f.UncompressedSize)
	}
	return ParseDetails(details)
}

func (m *Manifest) fullV4() *File {
	for _, o := range m.OALs {
		if o.Full != nil && o.Full.Ver == Version4Details {
			return o.Full
		}
	}
	return nil
}

// StatusError is the error of a download answered with another status
// than 200.
type StatusError struct {
	URL        string
	StatusCode int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("oab: GET %s: %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

func download(ctx context.Context, client *http.Client, u, user, password string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("oab: %w", err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("oab: GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{URL: u, StatusCode: resp.StatusCode}
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("oab: GET %s: %w", u, err)
	}
	if n > limit {
		return nil, fmt.Errorf("oab: GET %s: more than %d bytes", u, limit)
	}
	return buf.Bytes(), nil
}
