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

var memPool = sync.Pool{New: func() any { b := make([]byte, 0, Threshold); return &b }}

// Spill is a message read to its end with bounded memory: its first
// Threshold bytes in memory (drawn from Memory), the rest in a temporary
// file (drawn from Disk). When a budget runs out Spill keeps reading, so
// the protocol stays in step, but drops the bytes and reports ErrExhausted.
type Spill struct {
	mem      []byte
	memHeld  int64
	f        *os.File
	diskHeld int64
	n        int64
	dropped  bool
}

// Read reads r to io.EOF. An error from r is returned as is (a size-limit
// reply from smtpd, a vanished client); a budget that runs out is
// ErrExhausted, after r was read to its end. The caller must Close the
// Spill it gets (also with ErrExhausted).
func Read(r io.Reader) (*Spill, error) {
	s := &Spill{}
	if Memory.TryAcquire(Threshold) {
		s.memHeld = Threshold
		s.mem = (*memPool.Get().(*[]byte))[:0]
	}
	var chunk [32 << 10]byte
	for {
		var p []byte
		if s.f == nil && !s.dropped && len(s.mem) < cap(s.mem) {
			p = s.mem[len(s.mem):cap(s.mem)]
		} else {
			p = chunk[:]
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

// Load returns the whole message in one buffer with headroom free bytes
// before it (data is buf[headroom:]). It draws the buffer's size times
// factor from Memory (factor counts the copies the caller will make while
// it holds the buffer, such as the queue database's pages) and returns
// ErrExhausted when Memory cannot cover it. release gives the draw back;
// the buffer must not be used after it.
func (s *Spill) Load(headroom int, factor int64) (buf []byte, release func(), err error) {
	if s.dropped {
		return nil, nil, ErrExhausted
	}
	size := int64(headroom) + s.n
	draw := size * factor
	// The in-memory part is given back as the whole buffer is drawn.
	if !Memory.TryAcquire(draw) {
		return nil, nil, ErrExhausted
	}
	buf = make([]byte, size, size+64)
	k := copy(buf[headroom:], s.mem)
	if s.f != nil {
		if _, err := s.f.ReadAt(buf[headroom+k:], 0); err != nil && !errors.Is(err, io.EOF) {
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
	if s.mem != nil {
		b := s.mem[:0]
		memPool.Put(&b)
	}
	Memory.Release(s.memHeld)
	Disk.Release(s.diskHeld)
	s.mem, s.memHeld, s.diskHeld = nil, 0, 0
}
