package directory

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Password attributes are write-only, as in AD LDS: a value written by a
// client is stored hashed and no search ever returns it.
var passwordAttributes = []string{"userPassword", "unicodePwd"}

// IsPasswordAttribute reports whether attr holds a password.
func IsPasswordAttribute(attr string) bool {
	for _, p := range passwordAttributes {
		if strings.EqualFold(p, attr) {
			return true
		}
	}
	return false
}

const sshaPrefix = "{SSHA256}"

// HashPassword returns the stored form of a password: a salted SHA-256
// ("{SSHA256}" base64(digest || salt), as OpenLDAP writes it). The lab's
// replication passwords are 32 random bytes, so a slow KDF adds nothing.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	return sshaPrefix + base64.StdEncoding.EncodeToString(append(digest(password, salt), salt...))
}

// CheckPassword reports whether password matches a value made by
// HashPassword.
func CheckPassword(stored, password string) bool {
	raw, ok := strings.CutPrefix(stored, sshaPrefix)
	if !ok {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(b) <= sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare(b[:sha256.Size], digest(password, b[sha256.Size:])) == 1
}

// IsPasswordHash reports whether v has the form HashPassword produces.
func IsPasswordHash(v string) bool {
	raw, ok := strings.CutPrefix(v, sshaPrefix)
	if !ok {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	return err == nil && len(b) > sha256.Size
}

func digest(password string, salt []byte) []byte {
	h := sha256.New()
	h.Write([]byte(password))
	h.Write(salt)
	return h.Sum(nil)
}

// FileTime converts t to AD's accountExpires form: 100-nanosecond intervals
// since 1601-01-01 UTC, in decimal.
func FileTime(t time.Time) string {
	const epochDiff = 11644473600 // seconds from 1601 to 1970
	return strconv.FormatInt((t.Unix()+epochDiff)*10_000_000+int64(t.Nanosecond()/100), 10)
}

// ParseFileTime is the inverse of FileTime. 0 and 0x7FFFFFFFFFFFFFFF mean
// "never" (ok false).
func ParseFileTime(s string) (t time.Time, ok bool) {
	const epochDiff = 11644473600
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v == 1<<63-1 {
		return time.Time{}, false
	}
	return time.Unix(v/10_000_000-epochDiff, (v%10_000_000)*100).UTC(), true
}

// DirectoryAuthenticator authenticates against user entries of a Directory,
// as AD LDS authenticates its own security principals: the entry's
// userPassword (stored by HashPassword) must match and its accountExpires,
// if set, must not have passed.
type DirectoryAuthenticator struct {
	dir Directory
	now func() time.Time
}

// NewDirectoryAuthenticator returns an Authenticator reading dir; now is the
// clock (nil: time.Now).
func NewDirectoryAuthenticator(dir Directory, now func() time.Time) *DirectoryAuthenticator {
	if now == nil {
		now = time.Now
	}
	return &DirectoryAuthenticator{dir: dir, now: now}
}

// Bind checks a simple bind (RFC 4513 section 5.1.3): nil accepts,
// ErrAccountExpired or ErrInvalidCredentials refuse.
func (a *DirectoryAuthenticator) Bind(dn, password string) error {
	e, err := a.dir.Get(dn)
	if err != nil || !containsFold(e.Get("objectClass"), "user") {
		return ErrInvalidCredentials
	}
	match := false
	for _, h := range e.Get("userPassword") {
		if CheckPassword(h, password) {
			match = true
		}
	}
	if !match {
		return ErrInvalidCredentials
	}
	if exp, ok := ParseFileTime(e.First("accountExpires")); ok && !a.now().Before(exp) {
		return ErrAccountExpired
	}
	return nil
}
