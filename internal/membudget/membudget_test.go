package membudget

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestBudget(t *testing.T) {
	b := New("test", 100)
	if !b.TryAcquire(60) || b.TryAcquire(41) || !b.TryAcquire(40) {
		t.Fatal("draws of 60, 41, 40 from 100: want ok, refused, ok")
	}
	b.Release(100)
	if max, used, refused := b.Stats(); max != 100 || used != 0 || refused != 1 {
		t.Fatalf("Stats = %d %d %d, want 100 0 1", max, used, refused)
	}
}

func TestSpill(t *testing.T) {
	SetDir(t.TempDir())
	const headroom = 7
	for _, size := range []int{0, 10, Threshold - headroom, Threshold - headroom + 1, 3*Threshold + 17} {
		msg := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		// HalfReader: the stream arrives in pieces.
		s, err := Read(iotest.HalfReader(bytes.NewReader(msg)), headroom)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		inFile := headroom+size > Threshold
		if s.Len() != int64(size) || (s.f != nil) != inFile {
			t.Errorf("size %d: Len %d, in a file %v", size, s.Len(), s.f != nil)
		}
		buf, release, err := s.Load(2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[headroom:], msg) || len(buf) != headroom+size {
			t.Errorf("size %d: loaded message differs", size)
		}
		// In memory: the read buffer itself, its capacity drawn plus one
		// copy of the message; from a file: two copies.
		want := int64(headroom+size) * 2
		if !inFile {
			want = Threshold + int64(headroom+size)
		}
		if _, used, _ := Memory.Stats(); used != want {
			t.Errorf("size %d: %d bytes drawn, want %d", size, used, want)
		}
		release()
	}
	assertIdle(t)
}

// TestSpillHandsOverTheReadBuffer: a message that fits is loaded without a
// copy, in the buffer it was read into.
func TestSpillHandsOverTheReadBuffer(t *testing.T) {
	s, err := Read(bytes.NewReader([]byte("Subject: x\r\n\r\nbody\r\n")), 16)
	if err != nil {
		t.Fatal(err)
	}
	mem := &s.mem[16]
	buf, release, err := s.Load(2)
	if err != nil {
		t.Fatal(err)
	}
	if &buf[16] != mem {
		t.Error("Load copied a message that fitted in memory")
	}
	release()
	assertIdle(t)
}

func TestSpillExhausted(t *testing.T) {
	SetDir(t.TempDir())
	defer Disk.SetMax(DefaultDisk)
	defer Memory.SetMax(DefaultMemory)
	// The disk budget runs out mid-message: the stream is still read to
	// its end (the protocol stays in step), and the result is ErrExhausted.
	Disk.SetMax(Threshold)
	r := &countingReader{r: bytes.NewReader(make([]byte, 5*Threshold))}
	s, err := Read(r, 0)
	s.Close()
	if !errors.Is(err, ErrExhausted) || r.n != 5*Threshold {
		t.Fatalf("Read = %v after %d bytes, want ErrExhausted after %d", err, r.n, 5*Threshold)
	}
	// The memory budget cannot hold the whole message at the end.
	Disk.SetMax(DefaultDisk)
	Memory.SetMax(3 * Threshold)
	s, err = Read(bytes.NewReader(make([]byte, 2*Threshold)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(2); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Load = %v, want ErrExhausted", err)
	}
	s.Close()
	// Nor the copy of a message that fits in the read buffer.
	Memory.SetMax(Threshold + 100)
	s, err = Read(bytes.NewReader(make([]byte, 200)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(2); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Load of a small message = %v, want ErrExhausted", err)
	}
	s.Close()
	// A reader's own error is returned as is.
	want := errors.New("552 too large")
	s, err = Read(io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(want)), 0)
	s.Close()
	if err != want {
		t.Fatalf("Read = %v, want the reader's error", err)
	}
	assertIdle(t)
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func assertIdle(t *testing.T) {
	t.Helper()
	if _, used, _ := Memory.Stats(); used != 0 {
		t.Errorf("memory budget holds %d bytes after every message was released", used)
	}
	if _, used, _ := Disk.Stats(); used != 0 {
		t.Errorf("disk budget holds %d bytes after every message was released", used)
	}
}
