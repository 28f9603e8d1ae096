package oab

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// oabx is libmspack's OAB decompressor as a command (its examples/oabextract
// without the error-name table).
const oabx = `#include <stdio.h>
#include <mspack.h>
int main(int argc, char **argv) {
	struct msoab_decompressor *d;
	int err;
	MSPACK_SYS_SELFTEST(err);
	if (err || argc != 3 || !(d = mspack_create_oab_decompressor(NULL))) return 2;
	err = d->decompress(d, argv[1], argv[2]);
	mspack_destroy_oab_decompressor(d);
	if (err) { fprintf(stderr, "mspack error %d\n", err); return 1; }
	return 0;
}
`

// libmspack, the reader Evolution's EWS provider downloads real Exchange
// OABs with, unpacks what Pack writes to the same bytes: an independent
// check of the container (LZX_HDR, LZX_BLK) and of the LZXD streams inside
// (chunk prefixes, block headers, R0-R2, padding), whose CRC it verifies.
func TestLibmspackReadsPack(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler: apt-get install gcc libmspack-dev")
	}
	if _, err := os.Stat("/usr/include/mspack.h"); err != nil {
		t.Skip("libmspack headers missing: apt-get install libmspack-dev")
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "oabx.c"), filepath.Join(dir, "oabx")
	if err := os.WriteFile(src, []byte(oabx), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-o", bin, src, "-lmspack").CombinedOutput(); err != nil {
		t.Skipf("cannot build against libmspack (apt-get install libmspack-dev): %v\n%s", err, out)
	}
	b := testBook()
	for i := range 400 { // a details file of several blocks
		e := b.Entries[0]
		e.DisplayName += string(rune('A' + i%26))
		b.Entries = append(b.Entries, e)
	}
	details, err := WriteDetails(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(details) <= 2*BlockSize {
		t.Fatalf("details of %d bytes: want more than two blocks", len(details))
	}
	in, out := filepath.Join(dir, "full.lzx"), filepath.Join(dir, "full.oab")
	if err := os.WriteFile(in, Pack(details), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(bin, in, out).CombinedOutput(); err != nil {
		t.Fatalf("libmspack refused the container: %v %s", err, msg)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, details) {
		t.Errorf("libmspack unpacked %d bytes, not the %d bytes packed", len(got), len(details))
	}
}
