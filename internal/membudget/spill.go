package membudget

import (
	"errors"
	"io"
	"os"
	"sync"
)

// Threshold is how much of a message Spill keeps in memory before it
// moves the message to a temporary file.
const Threshold = 64 << 10

var spillDir struct {
	sync.Mutex
	dir string
}

// SetDir makes Spill put its temporary files in dir (the lab's data
// directory, so they land on the queue's disk rather than a tmpfs); ""
// is os.TempDir.
func SetDir(dir string) {
	spillDir.Lock()
	spillDir.dir = dir
	spillDir.Unlock()
}

func tempDir() string {
	spillDir.Lock()
	defer spillDir.Unlock()
	if spillDir.dir != "" {
		if err := os.MkdirAll(spillDir.dir, 0o700); err == nil {
			return spillDir.dir
		}
	}
	return os.TempDir()
}

// memPool holds the buffers a message's first Threshold bytes (headroom
// included) are read into; a message that fits is handed over in its
// buffer by Load and comes back here on release.
var memPool = sync.Pool{New: func() any { b := make([]byte, 0, Threshold); return &b }}

// chunks holds the read buffers of messages that go to a file.
var chunks = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Spill is a message read to its end with bounded memory: its first
// Threshold bytes in memory (drawn from Memory), the rest in a temporary
// file (drawn from Disk). When a budget runs out Spill keeps reading, so
// the protocol stays in step, but drops the bytes and reports ErrExhausted.
type Spill struct {
	mem      []byte  // headroom bytes, then the message's first bytes
	memBuf   *[]byte // the pooled buffer mem lives in
	memHeld  int64
	headroom int
	f        *os.File
	diskHeld int64
	n        int64
	dropped  bool
}

// Read reads r to io.EOF, keeping headroom free bytes in front of the
// message (Load's buffer has them; headroom must be under Threshold/2).
// An error from r is returned as is (a size-limit reply from smtpd, a
// vanished client); a budget that runs out is ErrExhausted, after r was
// read to its end. The caller must Close the Spill it gets (also with
// ErrExhausted).
func Read(r io.Reader, headroom int) (*Spill, error) {
	s := &Spill{headroom: headroom}
	if headroom < Threshold/2 && Memory.TryAcquire(Threshold) {
		s.memHeld = Threshold
		s.memBuf = memPool.Get().(*[]byte)
		s.mem = (*s.memBuf)[:headroom]
	}
	var chunk *[]byte
	defer func() {
		if chunk != nil {
			chunks.Put(chunk)
		}
	}()
	for {
		var p []byte
		if s.f == nil && !s.dropped && len(s.mem) < cap(s.mem) {
			p = s.mem[len(s.mem):cap(s.mem)]
		} else {
			if chunk == nil {
				chunk = chunks.Get().(*[]byte)
			}
			p = *chunk
		}
		k, err := r.Read(p)
		if k > 0 {
			s.n += int64(k)
			if werr := s.keep(p[:k]); werr != nil {
				s.dropped = true
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return s, err
		}
	}
	if s.dropped {
		return s, ErrExhausted
	}
	return s, nil
}

// keep stores p (which may be the free tail of s.mem).
func (s *Spill) keep(p []byte) error {
	if s.dropped {
		return ErrExhausted
	}
	if s.f == nil && len(s.mem)+len(p) <= cap(s.mem) {
		s.mem = s.mem[:len(s.mem)+len(p)] // read in place
		return nil
	}
	if !Disk.TryAcquire(int64(len(p))) {
		return ErrExhausted
	}
	s.diskHeld += int64(len(p))
	if s.f == nil {
		f, err := os.CreateTemp(tempDir(), "exsim-spill-*")
		if err != nil {
			return err
		}
		os.Remove(f.Name()) // unlinked at once: a crash leaves nothing behind
		s.f = f
	}
	_, err := s.f.Write(p)
	return err
}

// Len is how many bytes were read (also those dropped).
func (s *Spill) Len() int64 { return s.n }

// Load returns the whole message in one buffer with Read's headroom free
// bytes before it (data is buf[headroom:]). It draws the buffer's size
// times factor from Memory (factor counts the copies the caller will make
// while it holds the buffer, such as the queue database's pages) and
// returns ErrExhausted when Memory cannot cover it. A message that fitted
// in memory is handed over in the buffer it was read into (its whole
// capacity drawn, plus factor-1 times the message): no copy. release gives
// the draw and the buffer back; the buffer must not be used after it.
func (s *Spill) Load(factor int64) (buf []byte, release func(), err error) {
	if s.dropped {
		return nil, nil, ErrExhausted
	}
	size := int64(s.headroom) + s.n
	if s.f == nil && s.memBuf != nil {
		draw := int64(cap(s.mem)) + (factor-1)*size
		// The buffer's share is drawn already (memHeld): it moves over.
		if !Memory.TryAcquire(draw - s.memHeld) {
			return nil, nil, ErrExhausted
		}
		buf, bp := s.mem, s.memBuf
		s.mem, s.memBuf, s.memHeld = nil, nil, 0
		s.Close()
		return buf, func() {
			*bp = (*bp)[:0]
			memPool.Put(bp)
			Memory.Release(draw)
		}, nil
	}
	draw := size * factor
	// The in-memory part is given back as the whole buffer is drawn.
	if !Memory.TryAcquire(draw) {
		return nil, nil, ErrExhausted
	}
	buf = make([]byte, size, size+64)
	k := 0
	if len(s.mem) > s.headroom {
		k = copy(buf[s.headroom:], s.mem[s.headroom:])
	}
	if s.f != nil {
		if _, err := s.f.ReadAt(buf[s.headroom+k:], 0); err != nil && !errors.Is(err, io.EOF) {
			Memory.Release(draw)
			return nil, nil, err
		}
	}
	s.Close()
	return buf, func() { Memory.Release(draw) }, nil
}

// Close drops the message and gives back what it held. It may be called
// more than once.
func (s *Spill) Close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if s.memBuf != nil {
		*s.memBuf = (*s.memBuf)[:0]
		memPool.Put(s.memBuf)
	}
	Memory.Release(s.memHeld)
	Disk.Release(s.diskHeld)
	s.mem, s.memBuf, s.memHeld, s.diskHeld = nil, nil, 0, 0
}
