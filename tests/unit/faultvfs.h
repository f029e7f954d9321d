/* faultvfs.h - a SQLite VFS for tests that wraps the default one and fails
 * the Nth read, write, sync or allocation after it is armed, with an I/O
 * error or a full disk. Open a store on it with a URI:
 * "sqlite:file:/path/x.db?vfs=faultvfs". Process-wide state: one campaign
 * at a time. */
#ifndef PT_FAULTVFS_H
#define PT_FAULTVFS_H

typedef enum fv_kind {
  FV_READ,  /* xRead of any file (database, WAL, journal) */
  FV_WRITE, /* xWrite and xTruncate */
  FV_SYNC,  /* xSync */
  FV_ALLOC, /* SQLite's own allocations (xMalloc, xRealloc) */
  FV_KINDS
} fv_kind;

/* Registers the VFS "faultvfs" (not the default) and, when SQLite is not
 * initialised yet, wraps its allocator. Call first, before any other use of
 * SQLite in the process. Returns 0, or -1 when the VFS cannot be
 * registered; *alloc_ok (when not NULL) says whether allocations can be
 * failed. */
int fv_register(int *alloc_ok);

/* Starts counting calls of every kind from zero; when n > 0, the nth call
 * of `kind` from now fails (and with `sticky`, every later one of that kind
 * until fv_stop). full: SQLITE_FULL instead of SQLITE_IOERR_* (writes and
 * syncs; reads and allocations fail as they would: IOERR_READ, NOMEM). */
void fv_start(fv_kind kind, long n, int full, int sticky);
/* Stops counting and failing. */
void fv_stop(void);
/* Calls of kind since fv_start. */
long fv_count(fv_kind kind);
/* Failures injected since fv_start. */
long fv_fired(void);

#endif
