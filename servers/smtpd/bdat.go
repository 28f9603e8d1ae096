package smtpd

import (
	"errors"
	"io"
)

var (
	errTransactionAborted = errors.New("smtpd: transaction aborted")
	errDataReturned       = errors.New("smtpd: Data returned")
)

// bdatTx is a CHUNKING transaction (RFC 3030): Session.Data runs on a
// goroutine reading a pipe; the connection copies each chunk into it. The
// connection goroutine owns that goroutine and always collects its result
// (waitBDAT, abortBDAT) before the transaction or the connection ends.
type bdatTx struct {
	pw       *io.PipeWriter
	result   chan dataResult
	lim      bodyLimiter
	finished bool // Data has returned; res holds its result
	res      dataResult
}

type dataResult struct {
	reply *Reply
	err   error
}

// cmdBDAT handles BDAT <size> [LAST] (RFC 3030 section 2).
func (c *Conn) cmdBDAT(arg []byte) bool {
	size, last, ok := parseBDAT(arg)
	if !ok {
		// The size is unknown, so the chunk cannot be skipped: its bytes
		// will meet the command parser and its protocol-error limit.
		return c.protocolError(ReplyInvalidArguments)
	}
	if !c.ehlo || !c.inTx || c.rcpts == 0 {
		if err := c.skipChunk(size); err != nil {
			c.readFailed(err)
			return false
		}
		return c.protocolError(ReplyBadSequence)
	}
	if sofar := c.bdatBytes(); size > c.srv.lim.MaxMessageSize-sofar {
		return c.refuseChunk(size)
	}
	if c.bdat == nil {
		c.startBDAT()
	}
	t := c.bdat
	if err := c.copyChunk(t, size); err != nil {
		c.abortBDAT(io.ErrUnexpectedEOF)
		c.resetTx()
		c.readFailed(err)
		return false
	}
	if t.lim.err != nil {
		// A limit was crossed: answer this chunk with the 552 and end the
		// transaction; the client must send no more chunks (RFC 3030 section 2).
		r := t.lim.err
		c.abortBDAT(r)
		c.resetTx()
		c.writeReply(r)
		return true
	}
	if t.finished && !last && (t.res.err != nil || t.res.reply != nil && t.res.reply.Code >= 400) {
		c.endBDAT() // Data refused the message before its end
		return true
	}
	if !last {
		c.writeReply(ChunkReceived(size))
		return true
	}
	t.pw.Close()
	c.endBDAT()
	return true
}

// maxSkippedChunk is how far past MaxMessageSize a refused chunk is still
// read and dropped to keep the connection in step; a larger one ends the
// connection after the 552. Exchange's behaviour for such a chunk has no
// public source; reading gigabytes to refuse them is what this avoids.
const maxSkippedChunk = 64 << 20

// bdatBytes is how many bytes the current CHUNKING transaction holds.
func (c *Conn) bdatBytes() int64 {
	if c.bdat == nil {
		return 0
	}
	return c.bdat.lim.n
}

// refuseChunk answers a chunk whose declared size already exceeds the
// message size limit with the 552 at once (RFC 3030 section 2: the server
// may answer before the chunk's data), ends the transaction, and drops the
// chunk's bytes, or closes the connection when there are too many of them.
func (c *Conn) refuseChunk(size int64) bool {
	if c.bdat != nil {
		c.abortBDAT(ReplyMessageTooLarge)
	}
	c.resetTx()
	c.writeReply(ReplyMessageTooLarge)
	if size-c.srv.lim.MaxMessageSize > maxSkippedChunk {
		return false
	}
	if err := c.skipChunk(size); err != nil {
		c.readFailed(err)
		return false
	}
	return true
}

func (c *Conn) startBDAT() {
	pr, pw := io.Pipe()
	t := &bdatTx{pw: pw, result: make(chan dataResult, 1)}
	t.lim.reset(c.srv.lim)
	c.bdat = t
	sess := c.session
	go func() {
		reply, err := sess.Data(pr)
		pr.CloseWithError(errDataReturned) // unblocks a chunk being written
		t.result <- dataResult{reply, err}
	}()
}

// copyChunk moves size bytes from the connection into the pipe, straight
// from the bufio.Reader's buffer, counting them against the limits. After a
// limit or after Data returned, the rest is read and dropped.
func (c *Conn) copyChunk(t *bdatTx, size int64) error {
	for size > 0 {
		if c.br.Buffered() == 0 {
			if _, err := c.br.Peek(1); err != nil {
				return err
			}
		}
		k := int(min(int64(c.br.Buffered()), size))
		p, _ := c.br.Peek(k)
		if t.lim.err == nil && !t.finished && t.lim.account(p) == nil {
			if _, err := t.pw.Write(p); err != nil {
				t.res = <-t.result
				t.finished = true
			}
		}
		c.br.Discard(k)
		size -= int64(k)
	}
	return nil
}

func (c *Conn) skipChunk(size int64) error {
	for size > 0 {
		k := int(min(size, readerSize))
		n, err := c.br.Discard(k)
		size -= int64(n)
		if err != nil {
			return err
		}
	}
	return nil
}

// endBDAT collects Data's result and answers the transaction.
func (c *Conn) endBDAT() {
	t := c.bdat
	if !t.finished {
		t.res = <-t.result
		t.finished = true
	}
	c.bdat = nil
	var r *Reply
	switch {
	case t.res.err != nil:
		r = c.backendReply(t.res.err, ReplyTemporaryServerError)
	case t.res.reply == nil:
		r = ReplyQueuedNoID
	default:
		r = t.res.reply
	}
	c.writeReply(r)
	c.resetTx()
}

// abortBDAT ends a CHUNKING transaction without a reply: Data's reads fail
// with err, and its result is collected.
func (c *Conn) abortBDAT(err error) {
	t := c.bdat
	t.pw.CloseWithError(err)
	if !t.finished {
		t.res = <-t.result
		t.finished = true
	}
	c.bdat = nil
}
