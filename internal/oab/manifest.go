package oab

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// Manifest is oab.xml, the OAB manifest of a web distribution point
// (MS-OXWOAB section 2.2): the offline address lists and, for each, the
// files that carry it.
type Manifest struct {
	XMLName xml.Name `xml:"OAB"`
	OALs    []OAL    `xml:"OAL"`
}

// OAL is one offline address list: id is the address list's GUID, dn its
// distinguished name ("/" for the Global Address List), name its name.
type OAL struct {
	ID   string `xml:"id,attr"`
	DN   string `xml:"dn,attr"`
	Name string `xml:"name,attr"`
	Full *File  `xml:"Full"`
}

// File is a <Full> element: the generation (seq), the format version (32
// for a version 4 full details file), the sizes of the file as published
// and once decompressed, its SHA-1, and its name (relative to the
// manifest's URL).
type File struct {
	Seq              uint32 `xml:"seq,attr"`
	Ver              uint32 `xml:"ver,attr"`
	Size             int64  `xml:"size,attr"`
	UncompressedSize int64  `xml:"uncompressedsize,attr"`
	SHA              string `xml:"SHA,attr"`
	Name             string `xml:",chardata"`
}

// Published is one generation of an offline address list as a server
// serves it: the manifest and the full file it names.
type Published struct {
	Manifest []byte // oab.xml
	FullName string // the full file's name: <OAL id>-data-<seq>.lzx
	Full     []byte // the full file
}

// Publish builds the full details file of b, its container and the
// manifest naming it. Exchange names full files <id>-data-<seq>.lzx; the
// manifest's SHA is the SHA-1 of the .lzx file in hex.
func Publish(b Book) (*Published, error) {
	details, err := WriteDetails(b)
	if err != nil {
		return nil, err
	}
	full := Pack(details)
	name := fmt.Sprintf("%s-data-%d.lzx", strings.ToLower(b.GUID), b.Sequence)
	sum := sha1.Sum(full)
	m := Manifest{OALs: []OAL{{ID: strings.ToLower(b.GUID), DN: b.DN, Name: b.Name, Full: &File{
		Seq: b.Sequence, Ver: Version4Details, Size: int64(len(full)), UncompressedSize: int64(len(details)),
		SHA: hex.EncodeToString(sum[:]), Name: name,
	}}}}
	x, err := xml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("oab: manifest: %w", err)
	}
	return &Published{Manifest: append([]byte(xml.Header), x...), FullName: name, Full: full}, nil
}

// ParseManifest reads oab.xml, checking that every <Full> names a plain
// file name (no path: it is resolved against the manifest's URL) and that
// its numbers and SHA-1 are well formed.
func ParseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := xml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("oab: manifest: %w", err)
	}
	for i, o := range m.OALs {
		f := o.Full
		if f == nil {
			continue
		}
		f.Name = strings.TrimSpace(f.Name)
		switch {
		case f.Name == "" || strings.ContainsAny(f.Name, `/\?#%:`) || f.Name == "." || f.Name == "..":
			return nil, fmt.Errorf("oab: manifest: OAL %d: full file name %q is not a plain file name", i, f.Name)
		case f.Size < 0 || f.UncompressedSize < 0:
			return nil, fmt.Errorf("oab: manifest: OAL %d: negative size", i)
		}
		if _, err := hex.DecodeString(f.SHA); err != nil || len(f.SHA) != 2*sha1.Size {
			return nil, fmt.Errorf("oab: manifest: OAL %d: SHA %q is not a hex SHA-1", i, f.SHA)
		}
	}
	return &m, nil
}

// String is the manifest line of f, for logs.
func (f *File) String() string {
	return f.Name + " seq=" + strconv.FormatUint(uint64(f.Seq), 10) + " size=" + strconv.FormatInt(f.Size, 10)
}
