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
//   - its "compressed" form, an LZX_HDR and LZX_BLK container whose blocks
//     are all stored (ulFlags 0, ulCompSize = ulUncompSize): MS-OXOAB's
//     block flags allow uncompressed blocks and libmspack's reader (the
//     one Evolution's EWS provider uses against real Exchange servers)
//     copies them through. No LZX bit stream is written: the .lzx file is
//     as large as the details file plus 16 bytes per 32 KB block;
//   - the manifest, <OAB><OAL id dn name><Full seq ver="32" size
//     uncompressedsize SHA>file.lzx</Full></OAL></OAB>.
//
// Not written: the version 2 and 3 files (browse, RDN and ANR indexes),
// display templates (<Template>), differential patches (<Diff>, LZX
// DELTA with reference data). The reader refuses LZX-compressed blocks
// (ulFlags 1) with ErrCompressed rather than guessing.
package oab
