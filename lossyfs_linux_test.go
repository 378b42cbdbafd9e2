package main

import (
	"context"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// lossyFS is a FUSE file system, served by the test, that behaves as a
// disk does across a power cut: what a process writes is what it reads
// back, but only what it fsync'd is sure to be there after cut. Of the
// pages written since their file's last fsync, cut keeps a random half
// (a disk persists unsynced writes in any order, or not at all) and the
// file's size is either its synced or its current one. Every write
// reaches it (FUSE without a write-back cache), and the kernel's cached
// pages of a file are dropped when it is next opened (no keep_cache), so
// a daemon started after cut reads only what survived.
//
// The directory is flat: files are created, opened, read, written,
// resized, synced and removed; directory changes are durable at once.
type lossyFS struct {
	fs.Inode
	mu    sync.Mutex
	files map[string]*lossyFile
	// trap, when set, stops the write it counts down to: the daemon is
	// then in the middle of a commit, and the power goes there.
	trap *writeTrap
}

// writeTrap lets skip writes through, then holds the next one until
// released, saying so on hit.
type writeTrap struct {
	skip    int
	hit     chan struct{}
	release chan struct{}
}

const lossyPage = 4096

type lossyFile struct {
	fs.Inode
	fs       *lossyFS
	mu       sync.Mutex
	cur, dur []byte
	dirty    map[int64]bool // pages written since the last fsync
	synced   int            // fsync calls, for the test's log
}

var (
	_ = (fs.NodeCreater)((*lossyFS)(nil))
	_ = (fs.NodeUnlinker)((*lossyFS)(nil))
	_ = (fs.NodeOpener)((*lossyFile)(nil))
	_ = (fs.NodeReader)((*lossyFile)(nil))
	_ = (fs.NodeWriter)((*lossyFile)(nil))
	_ = (fs.NodeSetattrer)((*lossyFile)(nil))
	_ = (fs.NodeGetattrer)((*lossyFile)(nil))
	_ = (fs.NodeFsyncer)((*lossyFile)(nil))
	_ = (fs.NodeFlusher)((*lossyFile)(nil))
)

func (d *lossyFS) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := &lossyFile{fs: d, dirty: map[int64]bool{}}
	ch := d.NewPersistentInode(ctx, f, fs.StableAttr{Mode: syscall.S_IFREG})
	d.AddChild(name, ch, true)
	d.files[name] = f
	f.fillAttr(&out.Attr)
	return ch, nil, 0, fs.OK
}

func (d *lossyFS) Unlink(ctx context.Context, name string) syscall.Errno {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.files, name)
	return fs.OK
}

func (f *lossyFile) fillAttr(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | 0o600
	a.Size = uint64(len(f.cur))
	a.Blocks = (a.Size + 511) / 512
}

func (f *lossyFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return nil, 0, fs.OK // no FOPEN_KEEP_CACHE: the kernel drops its pages
}

func (f *lossyFile) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fillAttr(&out.Attr)
	return fs.OK
}

func (f *lossyFile) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	f.mu.Lock()
	defer f.mu.Unlock()
	off = min(off, int64(len(f.cur)))
	end := min(off+int64(len(dest)), int64(len(f.cur)))
	return fuse.ReadResultData(append([]byte(nil), f.cur[off:end]...)), fs.OK
}

func (f *lossyFile) resize(n int64) {
	for p := min(n, int64(len(f.cur))) / lossyPage; p <= max(n, int64(len(f.cur)))/lossyPage; p++ {
		f.dirty[p] = true
	}
	if n <= int64(len(f.cur)) {
		f.cur = f.cur[:n]
		return
	}
	f.cur = append(f.cur, make([]byte, n-int64(len(f.cur)))...)
}

func (f *lossyFile) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	f.fs.mu.Lock()
	tr := f.fs.trap
	if tr != nil {
		if tr.skip > 0 {
			tr.skip--
			tr = nil
		} else {
			f.fs.trap = nil
		}
	}
	f.fs.mu.Unlock()
	if tr != nil {
		close(tr.hit)
		<-tr.release
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if end := off + int64(len(data)); end > int64(len(f.cur)) {
		f.resize(end)
	}
	copy(f.cur[off:], data)
	for p := off / lossyPage; p <= (off+int64(len(data))-1)/lossyPage; p++ {
		f.dirty[p] = true
	}
	return uint32(len(data)), fs.OK
}

func (f *lossyFile) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sz, ok := in.GetSize(); ok {
		f.resize(int64(sz))
	}
	f.fillAttr(&out.Attr)
	return fs.OK
}

func (f *lossyFile) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno { return fs.OK }

// Fsync makes the file durable as it is now (fsync and fdatasync).
func (f *lossyFile) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dur = append(f.dur[:0], f.cur...)
	clear(f.dirty)
	f.synced++
	return fs.OK
}

// arm sets a trap for the write after the next skip ones, and returns
// it: hit closes when that write arrives (it waits, unapplied, until
// release is closed).
func (d *lossyFS) arm(skip int) *writeTrap {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.trap = &writeTrap{skip: skip, hit: make(chan struct{}), release: make(chan struct{})}
	return d.trap
}

// disarm removes a trap that was not hit.
func (d *lossyFS) disarm() {
	d.mu.Lock()
	d.trap = nil
	d.mu.Unlock()
}

// cut is the power cut: each file keeps what was synced, a random half
// of the pages written since, and its synced or its current size. It
// returns how many unsynced pages were dropped.
func (d *lossyFS) cut(rng *rand.Rand) (dropped int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range d.files {
		f.mu.Lock()
		size := len(f.dur)
		if len(f.dirty) > 0 && rng.IntN(2) == 0 {
			size = len(f.cur)
		}
		next := make([]byte, size)
		copy(next, f.dur)
		for p := range f.dirty {
			lo := p * lossyPage
			if lo >= int64(size) {
				continue
			}
			hi := min(lo+lossyPage, int64(size))
			if rng.IntN(2) == 0 && lo < int64(len(f.cur)) {
				copy(next[lo:hi], f.cur[lo:min(hi, int64(len(f.cur)))])
			} else {
				dropped++
			}
		}
		f.cur = next
		f.dur = append(f.dur[:0], next...)
		clear(f.dirty)
		f.mu.Unlock()
	}
	return dropped
}

// mountLossy serves a lossyFS at a new directory until the test ends.
// It skips where FUSE cannot be mounted (no /dev/fuse, not root), and
// fails under CI, which must run it.
func mountLossy(t *testing.T) (string, *lossyFS) {
	t.Helper()
	need := func(why string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("the power-cut loop cannot run here: %s", why)
		}
		t.Skipf("the power-cut loop cannot run here: %s", why)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		need("no /dev/fuse")
	}
	if os.Geteuid() != 0 {
		need("mounting FUSE without fusermount needs root")
	}
	dir := t.TempDir()
	root := &lossyFS{files: map[string]*lossyFile{}}
	zero := time.Duration(0)
	srv, err := fs.Mount(dir, root, &fs.Options{
		EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero,
		MountOptions: fuse.MountOptions{DirectMount: true, DirectMountStrict: true, FsName: "outpost-lossy", Name: "lossy"},
	})
	if err != nil {
		need("mounting FUSE: " + err.Error())
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Logf("unmounting %s: %v", dir, err)
		}
	})
	return dir, root
}
