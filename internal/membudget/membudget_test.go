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
	for _, size := range []int{0, 10, Threshold, Threshold + 1, 3*Threshold + 17} {
		msg := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		// HalfReader: the stream arrives in pieces.
		s, err := Read(iotest.HalfReader(bytes.NewReader(msg)))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if s.Len() != int64(size) || (s.f != nil) != (size > Threshold) {
			t.Errorf("size %d: Len %d, in a file %v", size, s.Len(), s.f != nil)
		}
		buf, release, err := s.Load(7, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[7:], msg) {
			t.Errorf("size %d: loaded message differs", size)
		}
		if _, used, _ := Memory.Stats(); used != int64(7+size)*2 {
			t.Errorf("size %d: %d bytes drawn, want %d", size, used, (7+size)*2)
		}
		release()
	}
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
	s, err := Read(r)
	s.Close()
	if !errors.Is(err, ErrExhausted) || r.n != 5*Threshold {
		t.Fatalf("Read = %v after %d bytes, want ErrExhausted after %d", err, r.n, 5*Threshold)
	}
	// The memory budget cannot hold the whole message at the end.
	Disk.SetMax(DefaultDisk)
	Memory.SetMax(3 * Threshold)
	s, err = Read(bytes.NewReader(make([]byte, 2*Threshold)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(0, 2); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Load = %v, want ErrExhausted", err)
	}
	s.Close()
	// A reader's own error is returned as is.
	want := errors.New("552 too large")
	s, err = Read(io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(want)))
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
