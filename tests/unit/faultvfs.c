/* faultvfs.c - the fault-injecting SQLite VFS of faultvfs.h: every file it
 * opens is the default VFS's file behind io methods that count reads,
 * writes, syncs and (through SQLITE_CONFIG_MALLOC) allocations, and fail
 * the one the test chose. */
#include "faultvfs.h"

#include <sqlite3.h>
#include <string.h>

static struct {
  int active;
  fv_kind kind;
  long n;
  int full, sticky;
  long count[FV_KINDS];
  long fired;
} st;

/* Counts a call of kind k; 1 when this one must fail. */
static int hit(fv_kind k) {
  if (!__atomic_load_n(&st.active, __ATOMIC_ACQUIRE)) return 0;
  long c = __atomic_add_fetch(&st.count[k], 1, __ATOMIC_RELAXED);
  if (k != st.kind || st.n <= 0 || c < st.n || (c > st.n && !st.sticky)) return 0;
  __atomic_add_fetch(&st.fired, 1, __ATOMIC_RELAXED);
  return 1;
}

void fv_start(fv_kind kind, long n, int full, int sticky) {
  __atomic_store_n(&st.active, 0, __ATOMIC_RELEASE);
  for (int i = 0; i < FV_KINDS; i++) st.count[i] = 0;
  st.kind = kind;
  st.n = n;
  st.full = full;
  st.sticky = sticky;
  st.fired = 0;
  __atomic_store_n(&st.active, 1, __ATOMIC_RELEASE);
}

void fv_stop(void) {
  __atomic_store_n(&st.active, 0, __ATOMIC_RELEASE);
}

long fv_count(fv_kind kind) {
  return __atomic_load_n(&st.count[kind], __ATOMIC_RELAXED);
}

long fv_fired(void) {
  return __atomic_load_n(&st.fired, __ATOMIC_RELAXED);
}

/* ---- files ---- */

typedef struct fvfile {
  sqlite3_file base;
  sqlite3_file *real; /* the default VFS's file, just past this struct */
} fvfile;

#define REAL(f) (((fvfile *)(f))->real)

static int f_close(sqlite3_file *f) {
  return REAL(f)->pMethods->xClose(REAL(f));
}
static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off) {
  if (hit(FV_READ)) return SQLITE_IOERR_READ;
  return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}
static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off) {
  if (hit(FV_WRITE)) return st.full ? SQLITE_FULL : SQLITE_IOERR_WRITE;
  return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}
static int f_truncate(sqlite3_file *f, sqlite3_int64 size) {
  if (hit(FV_WRITE)) return st.full ? SQLITE_FULL : SQLITE_IOERR_TRUNCATE;
  return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int f_sync(sqlite3_file *f, int flags) {
  if (hit(FV_SYNC)) return st.full ? SQLITE_FULL : SQLITE_IOERR_FSYNC;
  return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int f_size(sqlite3_file *f, sqlite3_int64 *out) {
  return REAL(f)->pMethods->xFileSize(REAL(f), out);
}
static int f_lock(sqlite3_file *f, int l) {
  return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int f_unlock(sqlite3_file *f, int l) {
  return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int f_reserved(sqlite3_file *f, int *out) {
  return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int f_control(sqlite3_file *f, int op, void *arg) {
  return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int f_sector(sqlite3_file *f) {
  return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int f_chars(sqlite3_file *f) {
  return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **out) {
  return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, out);
}
static int f_shm_lock(sqlite3_file *f, int off, int n, int flags) {
  return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void f_shm_barrier(sqlite3_file *f) {
  REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int f_shm_unmap(sqlite3_file *f, int del) {
  return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

/* Version 2: the WAL's shared memory, no memory-mapped reads (xFetch would
 * read pages past xRead, uncounted). */
static const sqlite3_io_methods fv_io = {
    2,          f_close,       f_read,      f_write,   f_truncate, f_sync,  f_size,
    f_lock,     f_unlock,      f_reserved,  f_control, f_sector,   f_chars, f_shm_map,
    f_shm_lock, f_shm_barrier, f_shm_unmap, NULL,      NULL};

static sqlite3_vfs fv_vfs;
static sqlite3_vfs *real_vfs;

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *oflags) {
  (void)v;
  fvfile *p = (fvfile *)f;
  p->real = (sqlite3_file *)&p[1];
  p->base.pMethods = NULL;
  int rc = real_vfs->xOpen(real_vfs, name, p->real, flags, oflags);
  /* xClose is called when pMethods is set, failure or not */
  if (p->real->pMethods) {
    if (p->real->pMethods->iVersion < 2) {
      p->real->pMethods->xClose(p->real);
      return SQLITE_CANTOPEN;
    }
    p->base.pMethods = &fv_io;
  }
  return rc;
}
static int v_delete(sqlite3_vfs *v, const char *name, int sync) {
  (void)v;
  return real_vfs->xDelete(real_vfs, name, sync);
}
static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
  (void)v;
  return real_vfs->xAccess(real_vfs, name, flags, out);
}
static int v_full(sqlite3_vfs *v, const char *name, int n, char *out) {
  (void)v;
  return real_vfs->xFullPathname(real_vfs, name, n, out);
}

/* ---- allocations ---- */

static sqlite3_mem_methods real_mem;

static void *m_malloc(int n) {
  return hit(FV_ALLOC) ? NULL : real_mem.xMalloc(n);
}
static void *m_realloc(void *p, int n) {
  return hit(FV_ALLOC) ? NULL : real_mem.xRealloc(p, n);
}

int fv_register(int *alloc_ok) {
  int aok = 0;
  if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem) == SQLITE_OK) {
    sqlite3_mem_methods m = real_mem;
    m.xMalloc = m_malloc;
    m.xRealloc = m_realloc;
    aok = sqlite3_config(SQLITE_CONFIG_MALLOC, &m) == SQLITE_OK;
  }
  if (alloc_ok) *alloc_ok = aok;
  if (sqlite3_initialize() != SQLITE_OK) return -1;
  if (sqlite3_vfs_find("faultvfs")) return 0;
  real_vfs = sqlite3_vfs_find(NULL);
  if (!real_vfs) return -1;
  fv_vfs = *real_vfs;
  fv_vfs.zName = "faultvfs";
  fv_vfs.pNext = NULL;
  fv_vfs.szOsFile = (int)sizeof(fvfile) + real_vfs->szOsFile;
  fv_vfs.xOpen = v_open;
  fv_vfs.xDelete = v_delete;
  fv_vfs.xAccess = v_access;
  fv_vfs.xFullPathname = v_full;
  return sqlite3_vfs_register(&fv_vfs, 0) == SQLITE_OK ? 0 : -1;
}
