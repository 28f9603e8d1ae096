// Package smtpd is the SMTP receive side of exsim's Exchange Receive
// connectors: a strict RFC 5321 server state machine whose greeting, EHLO
// lists, replies, limits and protocol log are Exchange 2016/2019's
// (EXCHANGE.md sections 1-3).
//
// The transport behind a connector talks to this package only through
// Backend and Session (plus the optional AuthSession and TLSSession). The
// server streams messages to Session.Data: DATA dot-unstuffed, BDAT chunks
// (RFC 3030) concatenated, both bounded by MaxMessageSize and MaxHeaderSize
// while they stream.
//
// Line handling, for the record: a command line ends at LF (CRLF or a bare
// LF); one longer than 2512 octets is read to its end and answered
// "500 5.3.3 Unrecognized command"; a NUL in a command line is the same
// error. In DATA only <CRLF>.<CRLF> ends the message and only a line after
// CRLF is unstuffed, so bare LF or CR cannot smuggle a second message; bare
// LFs and NULs reach the Session as sent.
//
// Replies to a pipelined group (RFC 2920) are buffered and written when the
// server has consumed the client's input and is about to wait for more.
package smtpd
