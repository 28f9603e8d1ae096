// Package store keeps the mailboxes of one server (an Exchange Mailbox server
// or the lab's Internet mail server) in one bbolt database file under
// DATA/<SERVER>/.
//
// Mailboxes are keyed by lower-cased SMTP address and hold folders with IMAP
// semantics: UIDVALIDITY assigned once per folder, UIDNEXT strictly
// increasing, flags and keywords, internal dates, subscriptions, and
// hierarchy delimiter "/". Message sequence numbers are an IMAP session
// concept and live in servers/imapd.
//
// Every write goes through one committer goroutine that groups the writes
// which arrived together into one bbolt transaction, so concurrent deliveries
// share an fsync (group commit). A write call returns only after its
// transaction is on disk.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/exsim/exsim/internal/defaults"
)

const (
	schemaVersion = 1

	defaultMaxBatch       = 512
	defaultMaxMessageSize = 64 << 20
	defaultLockTimeout    = 2 * time.Second
	// mmapReserve is the initial mapping size: large enough that the file
	// rarely needs a remap, which would wait for every open read transaction.
	mmapReserve = 256 << 20
)

var (
	bucketMeta      = []byte("meta")
	bucketBodies    = []byte("bodies")
	bucketRefs      = []byte("refs")
	bucketMailboxes = []byte("mailboxes")
	bucketDelivered = []byte("delivered") // message id NUL mailbox -> deliveredRec

	keyVersion     = []byte("version")
	keyUIDValidity = []byte("uidvalidity")

	// inside a mailbox bucket
	keyInfo       = []byte("info")
	bucketNames   = []byte("names")   // lower-cased folder name -> folder id
	bucketFolders = []byte("folders") // folder id -> folderRec
	bucketMsgs    = []byte("msgs")    // folder id -> bucket of uid -> msgRec
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Logger receives damaged-record reports. Nil discards.
	Logger *slog.Logger
	// Folders are created with every new mailbox. Nil means ExchangeFolders().
	Folders []FolderSpec
	// AutoCreate makes Deliver create a mailbox on first delivery instead of
	// reporting ErrNoMailbox (the Internet server accepts any local part).
	AutoCreate bool
	// MaxMessageSize bounds one message in bytes. Default 64 MiB.
	MaxMessageSize int
	// MaxBatch bounds the writes committed together by one fsync. Default 512.
	MaxBatch int
	// LockTimeout is how long Open waits for another process holding the
	// file. Default 2 s.
	LockTimeout time.Duration
}

// Store is one server's mailbox database. It is safe for concurrent use.
type Store struct {
	path    string
	db      *bbolt.DB
	log     *slog.Logger
	folders []FolderSpec
	opts    Options

	ops      chan *op
	quit     chan struct{}
	loopDone chan struct{}

	mu       sync.RWMutex // guards closed; held shared while submitting
	closed   bool
	inflight sync.WaitGroup

	hub hub
}

// Open opens (creating if needed) the database file at path. A damaged or
// unreadable file yields a *CorruptError naming path.
func Open(path string, opts Options) (s *Store, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Folders == nil {
		opts.Folders = ExchangeFolders()
	}
	defaults.Set(&opts.MaxMessageSize, defaultMaxMessageSize)
	defaults.Set(&opts.MaxBatch, defaultMaxBatch)
	defaults.Set(&opts.LockTimeout, defaultLockTimeout)
	for _, f := range opts.Folders {
		if _, _, err := normName(f.Name); err != nil {
			return nil, fmt.Errorf("store: default folder %q: %w", f.Name, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}

	s = &Store{
		path:     path,
		log:      opts.Logger,
		folders:  opts.Folders,
		opts:     opts,
		ops:      make(chan *op, opts.MaxBatch),
		quit:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	s.hub.init()

	// bbolt validates the meta pages on open but a damaged file can still
	// fault on first access; turn that into an error (see recoverTx).
	prev := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(prev)
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{Path: path, Err: fmt.Errorf("%v", r)}
			if s.db != nil {
				_ = s.db.Close()
			}
		}
	}()

	if err := precheck(path); err != nil {
		return nil, err
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: opts.LockTimeout,
		// A synced freelist is read from its page on open; without it bbolt
		// rebuilds it by walking every page in a goroutine of its own, where a
		// fault on a damaged file could not be recovered.
		NoFreelistSync:  false,
		FreelistType:    bbolt.FreelistMapType,
		InitialMmapSize: mmapReserve,
	})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("store: %s: locked by another process: %w", path, err)
		}
		if errors.Is(err, bbolt.ErrInvalid) || errors.Is(err, bbolt.ErrVersionMismatch) || errors.Is(err, bbolt.ErrChecksum) {
			return nil, &CorruptError{Path: path, Err: err}
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s.db = db
	if err := s.update(s.initSchema); err != nil {
		_ = db.Close()
		return nil, err
	}
	go s.commitLoop()
	return s, nil
}

// checkSize catches a truncated file before any page beyond its end is
// touched (which would fault).
func (s *Store) checkSize() error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return s.view(func(tx *bbolt.Tx) error {
		if used := tx.Size(); fi.Size() < used {
			return s.corrupt("", fmt.Errorf("file has %d bytes but its pages need %d (truncated)", fi.Size(), used))
		}
		return nil
	})
}

func (s *Store) initSchema(tx *bbolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return s.corrupt("", err)
	}
	switch v := meta.Get(keyVersion); {
	case v == nil:
		if err := meta.Put(keyVersion, u32key(schemaVersion)); err != nil {
			return err
		}
	case len(v) != 4:
		return s.corrupt("meta/version", errors.New("bad schema version record"))
	default:
		if got, _ := keyU32(v); got != schemaVersion {
			return fmt.Errorf("store: %s: schema version %d, this exsim reads %d", s.path, got, schemaVersion)
		}
	}
	for _, name := range [][]byte{bucketBodies, bucketRefs, bucketMailboxes, bucketDelivered} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return s.corrupt(string(name), err)
		}
	}
	return pruneDelivered(tx, time.Now())
}

// Path returns the database file.
func (s *Store) Path() string { return s.path }

// Close waits for writes in progress, stops the committer, closes every
// Watch and the database file. Further calls return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	s.inflight.Wait()
	close(s.quit)
	<-s.loopDone
	s.hub.closeAll()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) corrupt(record string, err error) error {
	return &CorruptError{Path: s.path, Record: record, Err: err}
}

// logCorrupt reports a damaged record that a listing skipped.
func (s *Store) logCorrupt(err error) {
	s.log.Error("store: skipping damaged record", "err", err)
}

// recoverTx converts a panic or memory fault inside bbolt (a damaged page)
// into a *CorruptError; the transaction was rolled back by bbolt's own defer.
func (s *Store) recoverTx(err *error) {
	if r := recover(); r != nil {
		*err = &CorruptError{Path: s.path, Err: fmt.Errorf("%v", r)}
		s.log.Error("store: database fault", "err", *err)
	}
}

func (s *Store) view(fn func(tx *bbolt.Tx) error) (err error) {
	defer s.recoverTx(&err)
	prev := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(prev)
	err = s.db.View(fn)
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func (s *Store) update(fn func(tx *bbolt.Tx) error) (err error) {
	defer s.recoverTx(&err)
	return s.db.Update(fn)
}

// op is one write waiting for the committer.
type op struct {
	apply  func(w *wtx) error
	done   chan error
	w      wtx
	gather bool // a delivery: its commit waits deliveryWindow for others
}

// deliveryWindow is how long a commit that holds a delivery waits for
// other deliveries to share it. Mail arrives from many SMTP sessions at
// once, and each bbolt commit costs two fdatasyncs and a write per changed
// page: committing only what arrived during the previous fsync made
// batches of one or two. On the 2-vCPU machine of docs/PERFORMANCE.md a
// 2 ms window (as the queue database's, transport/spool.go) took the
// Edge path from about 1.65 to 1.2-1.45 ms of exsim CPU per message and
// 15-30 % more messages a second. A client's own changes (flags, moves,
// APPEND) do not wait: one user's commands come one after another.
const deliveryWindow = 2 * time.Millisecond

// wtx is the write transaction an op runs in, plus the changes it made that
// are published to watchers once the transaction is durable.
type wtx struct {
	*bbolt.Tx
	s       *Store
	changes []Change
}

func (w *wtx) changed(c Change) { w.changes = append(w.changes, c) }

// submit runs apply in the next group commit and waits until it is durable.
// ctx is consulted only before the write is queued: once queued, the call
// waits for the outcome so a caller never sees "failed" for a stored message.
func (s *Store) submit(ctx context.Context, apply func(w *wtx) error) error {
	return s.submitOp(ctx, &op{apply: apply})
}

// submitOp is submit for an op that may gather (a delivery).
func (s *Store) submitOp(ctx context.Context, o *op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	s.inflight.Add(1)
	s.mu.RUnlock()
	defer s.inflight.Done()

	o.done = make(chan error, 1)
	s.ops <- o
	return <-o.done
}

// commitLoop is the single writer. It takes the first waiting op, adds every
// other op already queued (up to MaxBatch) and commits them in one
// transaction: the ops that arrive during one fsync share the next one.
func (s *Store) commitLoop() {
	defer close(s.loopDone)
	debug.SetPanicOnFault(true)
	batch := make([]*op, 0, s.opts.MaxBatch)
	for {
		select {
		case o := <-s.ops:
			batch = append(batch[:0], o)
		case <-s.quit:
			return
		}
		if batch[0].gather {
			time.Sleep(deliveryWindow)
		}
	fill:
		for len(batch) < s.opts.MaxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
		clear(batch)
	}
}

var errAbort = errors.New("store: op failed")

// commit applies batch in one transaction. An op that returns an error is
// answered with it and the batch is retried without it (bbolt has no
// savepoints); a transaction that fails for another reason (disk, damaged
// page) is retried op by op so one bad record fails only its own caller.
func (s *Store) commit(batch []*op) {
	batch = slices.Clone(batch)
	for len(batch) > 0 {
		failed := -1
		var opErr error
		err := s.update(func(tx *bbolt.Tx) error {
			for i, o := range batch {
				o.w = wtx{Tx: tx, s: s}
				if err := o.apply(&o.w); err != nil {
					failed, opErr = i, err
					return errAbort
				}
			}
			return nil
		})
		switch {
		case err == nil:
			for _, o := range batch {
				s.hub.publish(o.w.changes)
				o.done <- nil
			}
			return
		case failed >= 0 && errors.Is(err, errAbort):
			batch[failed].done <- opErr
			batch = slices.Delete(batch, failed, failed+1)
		case len(batch) == 1:
			batch[0].done <- err
			return
		default:
			for _, o := range batch {
				s.commit([]*op{o})
			}
			return
		}
	}
}

// Check walks every page of the file by decoding every record and returns
// all problems found, joined. (bbolt's own Tx.Check runs in a goroutine of its
// own, where a fault on a damaged page would crash the process.)
func (s *Store) Check() error {
	if err := s.checkSize(); err != nil {
		return err
	}
	var errs []error
	err := s.view(func(tx *bbolt.Tx) error {
		mbs := tx.Bucket(bucketMailboxes)
		if mbs == nil {
			return s.corrupt("", errors.New("missing mailboxes bucket"))
		}
		return mbs.ForEachBucket(func(k []byte) error {
			mb := mbs.Bucket(k)
			addr := string(k)
			if _, err := decodeMailboxRec(mb.Get(keyInfo)); err != nil {
				errs = append(errs, s.corrupt(addr, err))
			}
			folders, msgs := mb.Bucket(bucketFolders), mb.Bucket(bucketMsgs)
			if folders == nil || msgs == nil || mb.Bucket(bucketNames) == nil {
				errs = append(errs, s.corrupt(addr, errors.New("missing folder buckets")))
				return nil
			}
			return folders.ForEach(func(fk, fv []byte) error {
				id, _ := keyU64(fk)
				if _, err := decodeFolderRec(fv); err != nil {
					errs = append(errs, s.corrupt(fmt.Sprintf("%s folder %d", addr, id), err))
				}
				mbkt := msgs.Bucket(fk)
				if mbkt == nil {
					errs = append(errs, s.corrupt(fmt.Sprintf("%s folder %d", addr, id), errors.New("missing message bucket")))
					return nil
				}
				return mbkt.ForEach(func(uk, uv []byte) error {
					uid, _ := keyU32(uk)
					if _, err := decodeMsgRec(uv); err != nil {
						errs = append(errs, s.corrupt(fmt.Sprintf("%s folder %d uid %d", addr, id, uid), err))
					}
					return nil
				})
			})
		})
	})
	if err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Backup writes a consistent copy of the database to w (bbolt's hot backup).
func (s *Store) Backup(w io.Writer) error {
	return s.view(func(tx *bbolt.Tx) error {
		_, err := tx.WriteTo(w)
		return err
	})
}

// MaxMessageSize is the largest message Deliver and Append accept, in bytes.
func (s *Store) MaxMessageSize() int { return s.opts.MaxMessageSize }
