package sqlite

// A VFS of SQLite's own default one with the write-ahead log's frames
// written in one system call a commit rather than two a page. SQLite
// writes each frame of the log as two writes, its 24-byte header and its
// page, and a source's run of 50 releases commits about 170 frames: some
// 340 pwrite calls, which took 1.8 ms of the store's one writer a run in
// the ingest bench on this project's machine (profiled), where one write
// of the whole commit takes a tenth of that.
//
// The log's writes are kept in a buffer and written, in one call, when
//
//   - the page after a commit frame's header has been written: the commit
//     is then in the file before SQLite publishes it in the wal-index (the
//     -shm file) for readers, and a write that fails fails the commit;
//   - a write does not follow on from the buffer, or would overflow it;
//   - anything else touches the log file (read, sync, size, truncate,
//     file control, lock, close);
//   - the connection takes or lets go of any lock of the wal-index, or
//     passes its memory barrier: a connection never holds unwritten frames
//     past the end of its write transaction, so nothing it buffered can
//     land on frames another writer wrote since.
//
// So every frame a reader can see (those up to the published mxFrame) is
// in the file, as with SQLite's own VFS, and a process killed at any
// moment leaves the log as SQLite's would have been left by a kill just
// before the buffered writes (frames after the last commit, which
// recovery ignores). Files other than a main database and its log (rollback
// journals, temporary files) are SQLite's own, untouched.

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// vfsName is the VFS the store opens its databases with.
const vfsName = "crier-walbuf"

// walBufSize bounds a log's buffer: a larger commit is written in parts.
const walBufSize = 1 << 20

var (
	registerOnce sync.Once
	registerErr  error
	baseVFS      *sqlite3.Tsqlite3_vfs // SQLite's default VFS, which does the work
	ourVFS       sqlite3.Tsqlite3_vfs  // stays put: SQLite keeps a pointer to it
	dbMethods    sqlite3.Tsqlite3_io_methods
	walMethods   sqlite3.Tsqlite3_io_methods

	// What the logs were given to write and what the base VFS was given
	// (for the tests).
	walWritesIn, walWritesOut atomic.Int64

	// The shim files open, by handle: read at every call of SQLite's into
	// the VFS, from every connection, so without a lock of their own.
	files  sync.Map // uintptr → *shimFile
	nextID atomic.Uintptr
)

// A shim file is laid out as SQLite allocates it (szOsFile bytes):
// pMethods, then the handle of its shimFile, then the base VFS's file.
const shimHeader = 16

// shimFile is the state of a main database or log file opened through the
// VFS.
type shimFile struct {
	real    uintptr                      // the base VFS's file
	methods *sqlite3.Tsqlite3_io_methods // its methods
	wal     *shimFile                    // a database's log, once opened
	db      *shimFile                    // a log's database, if opened through the VFS

	// A log's buffer (C memory, allocated at its first write): n bytes
	// meant for offset off.
	buf        uintptr
	n          int
	off        int64
	commitNext bool // the last write was a commit frame's header
}

// registerVFS registers the VFS once in the process.
func registerVFS() error {
	registerOnce.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		base := sqlite3.Xsqlite3_vfs_find(tls, 0)
		if base == 0 {
			registerErr = errors.New("sqlite: no default VFS")
			return
		}
		baseVFS = (*sqlite3.Tsqlite3_vfs)(ptr(base))
		ourVFS = *baseVFS
		ourVFS.FpNext = 0
		ourVFS.FszOsFile = baseVFS.FszOsFile + shimHeader
		name, err := libc.CString(vfsName)
		if err != nil {
			registerErr = err
			return
		}
		ourVFS.FzName = name
		*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&ourVFS.FxOpen)) = shimOpen
		setMethods(&dbMethods, false)
		setMethods(&walMethods, true)
		if rc := sqlite3.Xsqlite3_vfs_register(tls, uintptr(unsafe.Pointer(&ourVFS)), 0); rc != sqlite3.SQLITE_OK {
			registerErr = errors.New("sqlite: registering the VFS failed")
		}
	})
	return registerErr
}

func setMethods(m *sqlite3.Tsqlite3_io_methods, wal bool) {
	m.FiVersion = 3
	*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&m.FxClose)) = shimClose
	*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&m.FxRead)) = shimRead
	if wal {
		*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&m.FxWrite)) = walWrite
	} else {
		*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&m.FxWrite)) = shimWrite
	}
	*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&m.FxTruncate)) = shimTruncate
	*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&m.FxSync)) = shimSync
	*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&m.FxFileSize)) = shimFileSize
	*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&m.FxLock)) = shimLock
	*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&m.FxUnlock)) = shimUnlock
	*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&m.FxCheckReservedLock)) = shimCheckReservedLock
	*(*func(*libc.TLS, uintptr, int32, uintptr) int32)(unsafe.Pointer(&m.FxFileControl)) = shimFileControl
	*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&m.FxSectorSize)) = shimSectorSize
	*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&m.FxDeviceCharacteristics)) = shimDeviceCharacteristics
	*(*func(*libc.TLS, uintptr, int32, int32, int32, uintptr) int32)(unsafe.Pointer(&m.FxShmMap)) = shimShmMap
	*(*func(*libc.TLS, uintptr, int32, int32, int32) int32)(unsafe.Pointer(&m.FxShmLock)) = shimShmLock
	*(*func(*libc.TLS, uintptr))(unsafe.Pointer(&m.FxShmBarrier)) = shimShmBarrier
	*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&m.FxShmUnmap)) = shimShmUnmap
	*(*func(*libc.TLS, uintptr, int64, int32, uintptr) int32)(unsafe.Pointer(&m.FxFetch)) = shimFetch
	*(*func(*libc.TLS, uintptr, int64, uintptr) int32)(unsafe.Pointer(&m.FxUnfetch)) = shimUnfetch
}

// fileOf returns the state of a shim file.
func fileOf(pFile uintptr) *shimFile {
	f, _ := files.Load(*(*uintptr)(ptr(pFile + 8)))
	return f.(*shimFile)
}

func shimOpen(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	baseOpen := *(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{baseVFS.FxOpen}))
	base := uintptr(unsafe.Pointer(baseVFS))
	if flags&(sqlite3.SQLITE_OPEN_MAIN_DB|sqlite3.SQLITE_OPEN_WAL) == 0 {
		// Not ours: the base VFS's file, as it is, in the space given.
		return baseOpen(tls, base, zName, pFile, flags, pOutFlags)
	}
	*(*uintptr)(ptr(pFile)) = 0 // no methods: SQLite does not close a file that failed to open
	real := pFile + shimHeader
	if rc := baseOpen(tls, base, zName, real, flags, pOutFlags); rc != sqlite3.SQLITE_OK {
		return rc
	}
	f := &shimFile{real: real, methods: (*sqlite3.Tsqlite3_io_methods)(ptr(*(*uintptr)(ptr(real))))}
	h := nextID.Add(1)
	files.Store(h, f)
	*(*uintptr)(ptr(pFile + 8)) = h
	if flags&sqlite3.SQLITE_OPEN_WAL != 0 {
		*(*uintptr)(ptr(pFile)) = uintptr(unsafe.Pointer(&walMethods))
		// The database whose log this is: its barrier and locks write
		// what the log holds back.
		if db := sqlite3.Xsqlite3_database_file_object(tls, zName); db != 0 && *(*uintptr)(ptr(db)) == uintptr(unsafe.Pointer(&dbMethods)) {
			d := fileOf(db)
			d.wal, f.db = f, d
		}
	} else {
		*(*uintptr)(ptr(pFile)) = uintptr(unsafe.Pointer(&dbMethods))
	}
	return sqlite3.SQLITE_OK
}

// flush writes what the log holds back.
func (f *shimFile) flush(tls *libc.TLS) int32 {
	if f == nil || f.n == 0 {
		return sqlite3.SQLITE_OK
	}
	n := f.n
	f.n = 0
	f.commitNext = false
	// SQLite's unix VFS writes at most 128 KiB a call (it masks the
	// length), so the buffer goes in parts below that.
	for done := 0; done < n; {
		part := min(n-done, writePart)
		walWritesOut.Add(1)
		if rc := call4(f.methods.FxWrite, tls, f.real, f.buf+uintptr(done), int32(part), f.off+int64(done)); rc != sqlite3.SQLITE_OK {
			return rc
		}
		done += part
	}
	return sqlite3.SQLITE_OK
}

// writePart is the most the base VFS is given to write at once.
const writePart = 1<<17 - 4096

func walWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	f := fileOf(pFile)
	walWritesIn.Add(1)
	if f.n > 0 && iOfst != f.off+int64(f.n) {
		if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
			return rc
		}
	}
	if int(iAmt) > walBufSize {
		if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
			return rc
		}
		walWritesOut.Add(1)
		return call4(f.methods.FxWrite, tls, f.real, zBuf, iAmt, iOfst)
	}
	if f.n+int(iAmt) > walBufSize {
		if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
			return rc
		}
	}
	if f.buf == 0 {
		if f.buf = libc.Xmalloc(tls, uint64(walBufSize)); f.buf == 0 {
			walWritesOut.Add(1)
			return call4(f.methods.FxWrite, tls, f.real, zBuf, iAmt, iOfst)
		}
	}
	if f.n == 0 {
		f.off = iOfst
	}
	src := unsafe.Slice((*byte)(ptr(zBuf)), iAmt)
	dst := unsafe.Slice((*byte)(ptr(f.buf)), walBufSize)
	copy(dst[f.n:], src)
	f.n += int(iAmt)
	// A frame's header says, at bytes 4–8, the database's size after a
	// commit, and 0 in every other frame: once a commit frame's page
	// follows its header, the commit is written.
	commit := f.commitNext
	f.commitNext = iAmt == 24 && binary.BigEndian.Uint32(src[4:8]) != 0
	if commit {
		return f.flush(tls)
	}
	return sqlite3.SQLITE_OK
}

func shimWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	f := fileOf(pFile)
	return call4(f.methods.FxWrite, tls, f.real, zBuf, iAmt, iOfst)
}

func shimRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	f := fileOf(pFile)
	if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return call4(f.methods.FxRead, tls, f.real, zBuf, iAmt, iOfst)
}

func shimClose(tls *libc.TLS, pFile uintptr) int32 {
	h := *(*uintptr)(ptr(pFile + 8))
	f := fileOf(pFile)
	rc := f.flush(tls)
	if f.buf != 0 {
		libc.Xfree(tls, f.buf)
		f.buf = 0
	}
	files.Delete(h)
	if f.db != nil && f.db.wal == f {
		f.db.wal = nil
	}
	if rc2 := (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{f.methods.FxClose})))(tls, f.real); rc == sqlite3.SQLITE_OK {
		rc = rc2
	}
	return rc
}

func shimTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	f := fileOf(pFile)
	if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&struct{ uintptr }{f.methods.FxTruncate})))(tls, f.real, size)
}

func shimSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	f := fileOf(pFile)
	if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return call1(f.methods.FxSync, tls, f.real, flags)
}

func shimFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	f := fileOf(pFile)
	if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return callP(f.methods.FxFileSize, tls, f.real, pSize)
}

func shimLock(tls *libc.TLS, pFile uintptr, lock int32) int32 {
	f := fileOf(pFile)
	if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return call1(f.methods.FxLock, tls, f.real, lock)
}

func shimUnlock(tls *libc.TLS, pFile uintptr, lock int32) int32 {
	f := fileOf(pFile)
	if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return call1(f.methods.FxUnlock, tls, f.real, lock)
}

func shimCheckReservedLock(tls *libc.TLS, pFile, pResOut uintptr) int32 {
	f := fileOf(pFile)
	return callP(f.methods.FxCheckReservedLock, tls, f.real, pResOut)
}

func shimFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	f := fileOf(pFile)
	if rc := f.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{f.methods.FxFileControl})))(tls, f.real, op, pArg)
}

func shimSectorSize(tls *libc.TLS, pFile uintptr) int32 {
	f := fileOf(pFile)
	return call0(f.methods.FxSectorSize, tls, f.real)
}

func shimDeviceCharacteristics(tls *libc.TLS, pFile uintptr) int32 {
	f := fileOf(pFile)
	return call0(f.methods.FxDeviceCharacteristics, tls, f.real)
}

// The wal-index's methods are the database file's: each first writes what
// the database's log holds back.

func shimShmMap(tls *libc.TLS, pFile uintptr, iPg, pgsz, extend int32, pp uintptr) int32 {
	f := fileOf(pFile)
	if rc := f.wal.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32, int32, int32, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{f.methods.FxShmMap})))(tls, f.real, iPg, pgsz, extend, pp)
}

func shimShmLock(tls *libc.TLS, pFile uintptr, offset, n, flags int32) int32 {
	f := fileOf(pFile)
	if rc := f.wal.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32, int32, int32) int32)(unsafe.Pointer(&struct{ uintptr }{f.methods.FxShmLock})))(tls, f.real, offset, n, flags)
}

func shimShmBarrier(tls *libc.TLS, pFile uintptr) {
	f := fileOf(pFile)
	// Nothing should be held back here (a commit is written with its last
	// frame); a failure could not be reported, and the barrier is kept.
	f.wal.flush(tls)
	(*(*func(*libc.TLS, uintptr))(unsafe.Pointer(&struct{ uintptr }{f.methods.FxShmBarrier})))(tls, f.real)
}

func shimShmUnmap(tls *libc.TLS, pFile uintptr, deleteFlag int32) int32 {
	f := fileOf(pFile)
	if rc := f.wal.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return call1(f.methods.FxShmUnmap, tls, f.real, deleteFlag)
}

func shimFetch(tls *libc.TLS, pFile uintptr, iOfst int64, iAmt int32, pp uintptr) int32 {
	f := fileOf(pFile)
	if f.methods.FiVersion < 3 || f.methods.FxFetch == 0 {
		*(*uintptr)(ptr(pp)) = 0
		return sqlite3.SQLITE_OK
	}
	return (*(*func(*libc.TLS, uintptr, int64, int32, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{f.methods.FxFetch})))(tls, f.real, iOfst, iAmt, pp)
}

func shimUnfetch(tls *libc.TLS, pFile uintptr, iOfst int64, p uintptr) int32 {
	f := fileOf(pFile)
	if f.methods.FiVersion < 3 || f.methods.FxUnfetch == 0 {
		return sqlite3.SQLITE_OK
	}
	return (*(*func(*libc.TLS, uintptr, int64, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{f.methods.FxUnfetch})))(tls, f.real, iOfst, p)
}

func call0(fp uintptr, tls *libc.TLS, p uintptr) int32 {
	return (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{fp})))(tls, p)
}

func call1(fp uintptr, tls *libc.TLS, p uintptr, a int32) int32 {
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&struct{ uintptr }{fp})))(tls, p, a)
}

func callP(fp uintptr, tls *libc.TLS, p, a uintptr) int32 {
	return (*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{fp})))(tls, p, a)
}

func call4(fp uintptr, tls *libc.TLS, p, buf uintptr, n int32, off int64) int32 {
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&struct{ uintptr }{fp})))(tls, p, buf, n, off)
}

// ptr is the address p holds, as SQLite's C side (memory Go does not
// manage) hands it over.
func ptr(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }
