// Package oab is the Offline Address Book of version 4 (MS-OXOAB, with the
// web distribution manifest of MS-OXWOAB): the full details file built from
// the address book NSPI serves (nspi.Entry), its compressed container, the
// oab.xml manifest that lists it, and a reader for all three that a client
// (exsim's probes, tests) uses to download and check what a server
// publishes (Fetch).
//
// What is written:
//
//   - the uncompressed OAB version 4 Full Details file (MS-OXOAB section
//     2.9): OAB_HDR, OAB_META_DATA with the header and object property
//     tables, the OAB header record and one OAB_V4_REC per mailbox;
//   - its "compressed" form, the LZX_HDR and LZX_BLK container of
//     MS-OXOAB with 32 KB blocks, each LZX (ulFlags 1) and holding an LZXD
//     stream (MS-PATCH) of one chunk made of one LZX *uncompressed* block
//     (block type 3): valid LZX that any LZX decoder reads, with no
//     Huffman coding or matches, so the .lzx file is the details file plus
//     36 bytes a block. MS-OXOAB also allows stored blocks (ulFlags 0,
//     which libmspack copies through); the reader takes both, but the
//     writer uses LZX blocks because every LZXD decoder must read
//     uncompressed blocks (MS-PATCH section 2.3.3 defines them for data an
//     encoder cannot shrink), while that Outlook takes stored blocks rests
//     on the specification alone;
//   - the manifest, <OAB><OAL id dn name><Full seq ver="32" size
//     uncompressedsize SHA>file.lzx</Full></OAL></OAB>.
//
// Not written: the version 2 and 3 files (browse, RDN and ANR indexes),
// display templates (<Template>), differential patches (<Diff>, LZX
// DELTA with reference data), LZX verbatim and aligned offset blocks (the
// reader answers ErrCompressed for them rather than guessing).
package oab
