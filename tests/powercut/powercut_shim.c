/* LD_PRELOAD shim for simulated power cuts: logs every change a process makes to the files of one
 * directory (writes, truncations, creations, unlinks, renames) and every fsync/fdatasync of them
 * or of the directory, so tests/support/powercut.py can rebuild the directory as a disk would hold
 * it after a power loss at the instant the process was SIGKILLed. The files themselves are written
 * as usual (the process reads them back); only the log says what was durable.
 *
 * POWERCUT_DIR: the watched directory (absolute, no symlinks). POWERCUT_LOG: the log file (outside
 * the watched directory). Without both the shim does nothing. "-shm" files are not watched: SQLite
 * rebuilds its shared-memory index after a crash.
 *
 * POWERCUT_FAULTS (optional): a file of at least 2 bytes, mapped shared; while byte 0 is not zero,
 * writes and truncations of watched files fail with that errno (28: ENOSPC, 5: EIO); while byte 1
 * is not zero, their fsync/fdatasync fails with that errno (and is not logged as a sync). A test
 * flips the bytes while the process runs.
 *
 * Log record: "PCUT", u32 type, u64 offset, u64 length, u32 path length, u32 second path length,
 * then the paths (relative to the directory) and `length` bytes of data for a write. A record is
 * written after the operation succeeded (a sync: after it returned), under one lock, so the log's
 * order is the order in which the operations took effect. Thread-safe. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { rec_create = 1, rec_write, rec_truncate, rec_sync, rec_dirsync, rec_unlink, rec_rename };
enum { max_fds = 65536 };

struct header {
    char magic[4];
    uint32_t type;
    uint64_t offset;
    uint64_t length;
    uint32_t path_len;
    uint32_t path2_len;
};

static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static char watched[PATH_MAX];
static size_t watched_len;
static int log_fd = -1;
static int ready;
static char* fd_path[max_fds];
static volatile const unsigned char* faults;
/* see POWERCUT_FAULTS */ /* relative path of a watched fd; "" for the directory itself */

static ssize_t (*real_write)(int, const void*, size_t);
static ssize_t (*real_pwrite)(int, const void*, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec*, int);
static ssize_t (*real_pwritev)(int, const struct iovec*, int, off_t);
static int (*real_open)(const char*, int, ...);
static int (*real_openat)(int, const char*, int, ...);
static int (*real_close)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_unlink)(const char*);
static int (*real_unlinkat)(int, const char*, int);
static int (*real_remove)(const char*);
static int (*real_rename)(const char*, const char*);
static int (*real_renameat)(int, const char*, int, const char*);

static void init(void) {
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_pwritev = dlsym(RTLD_NEXT, "pwritev");
    real_open = dlsym(RTLD_NEXT, "open");
    real_openat = dlsym(RTLD_NEXT, "openat");
    real_close = dlsym(RTLD_NEXT, "close");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_unlink = dlsym(RTLD_NEXT, "unlink");
    real_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
    real_remove = dlsym(RTLD_NEXT, "remove");
    real_rename = dlsym(RTLD_NEXT, "rename");
    real_renameat = dlsym(RTLD_NEXT, "renameat");
    const char* dir = getenv("POWERCUT_DIR");
    const char* log = getenv("POWERCUT_LOG");
    if (dir == NULL || log == NULL || strlen(dir) >= sizeof watched - 1) return;
    strcpy(watched, dir);
    watched_len = strlen(watched);
    while (watched_len > 1 && watched[watched_len - 1] == '/') watched[--watched_len] = '\0';
    log_fd = real_open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        fprintf(stderr, "powercut: cannot open %s\n", log);
        abort();
    }
    const char* ctl = getenv("POWERCUT_FAULTS");
    if (ctl != NULL) {
        int fd = real_open(ctl, O_RDONLY | O_CLOEXEC);
        void* map = fd < 0 ? MAP_FAILED : mmap(NULL, 2, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            fprintf(stderr, "powercut: cannot map %s\n", ctl);
            abort();
        }
        real_close(fd);
        faults = map;
    }
    ready = 1;
}

/* The errno an injected fault makes the call fail with (0: none). 0: writes, 1: syncs. */
static int injected(int which, const char* rel) {
    return (faults != NULL && rel != NULL) ? faults[which] : 0;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
/* Also from the wrappers: another library's constructor may write before ours runs. */
static void ensure(void) { pthread_once(&once, init); }
__attribute__((constructor)) static void start(void) { ensure(); }

static void emit(uint32_t type, const char* path, const char* path2, uint64_t offset,
                 const void* data, uint64_t length) {
    struct header h = {{'P', 'C', 'U', 'T'}, type, offset, length, 0, 0};
    h.path_len = (uint32_t)strlen(path);
    h.path2_len = path2 ? (uint32_t)strlen(path2) : 0;
    struct iovec iov[4] = {{&h, sizeof h},
                           {(void*)path, h.path_len},
                           {(void*)(path2 ? path2 : ""), h.path2_len},
                           {(void*)data, data ? length : 0}};
    size_t total = 0;
    for (int i = 0; i < 4; ++i) total += iov[i].iov_len;
    ssize_t n = real_writev(log_fd, iov, 4);
    if (n < 0 || (size_t)n != total) {
        fprintf(stderr, "powercut: log write failed\n");
        abort();
    }
}

/* The path relative to the watched directory ("" for the directory), or NULL when not watched. */
static char* relative(int dirfd, const char* path, char* buf) {
    char full[PATH_MAX * 2];
    if (path[0] == '/') {
        snprintf(full, sizeof full, "%s", path);
    } else {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (getcwd(base, sizeof base) == NULL) return NULL;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, base, sizeof base - 1);
            if (n < 0) return NULL;
            base[n] = '\0';
        }
        snprintf(full, sizeof full, "%s/%s", base, path);
    }
    size_t len = strlen(full);
    while (len > 1 && full[len - 1] == '/') full[--len] = '\0';
    if (strncmp(full, watched, watched_len) != 0) return NULL;
    if (full[watched_len] == '\0') {
        buf[0] = '\0';
        return buf;
    }
    if (full[watched_len] != '/') return NULL;
    const char* rest = full + watched_len + 1;
    if (strchr(rest, '/') != NULL) return NULL; /* only files directly in the directory */
    size_t rl = strlen(rest);
    if (rl >= 4 && strcmp(rest + rl - 4, "-shm") == 0) return NULL;
    if (rl >= PATH_MAX) return NULL;
    memcpy(buf, rest, rl + 1);
    return buf;
}

static const char* watched_fd(int fd) { return (fd >= 0 && fd < max_fds) ? fd_path[fd] : NULL; }

static int do_open(int dirfd, const char* path, int flags, mode_t mode) {
    ensure();
    if (!ready) return real_openat(dirfd, path, flags, mode);
    char buf[PATH_MAX];
    pthread_mutex_lock(&lock);
    const char* rel = relative(dirfd, path, buf);
    int existed = 1;
    struct stat st;
    if (rel != NULL && fstatat(dirfd, path, &st, 0) != 0) existed = 0;
    int fd = real_openat(dirfd, path, flags, mode);
    if (fd >= 0 && rel != NULL && fd < max_fds) {
        free(fd_path[fd]);
        fd_path[fd] = strdup(rel);
        if (rel[0] != '\0') {
            if (!existed) emit(rec_create, rel, NULL, 0, NULL, 0);
            if (existed && (flags & O_TRUNC)) emit(rec_truncate, rel, NULL, 0, NULL, 0);
        }
    }
    pthread_mutex_unlock(&lock);
    return fd;
}

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return do_open(AT_FDCWD, path, flags, mode);
}
int open64(const char* path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return do_open(dirfd, path, flags, mode);
}
int openat64(int dirfd, const char* path, int flags, ...) __attribute__((alias("openat")));

int close(int fd) {
    ensure();
    if (ready && fd >= 0 && fd < max_fds) {
        pthread_mutex_lock(&lock);
        free(fd_path[fd]);
        fd_path[fd] = NULL;
        int rc = real_close(fd);
        pthread_mutex_unlock(&lock);
        return rc;
    }
    return real_close(fd);
}

static void log_vector(const char* rel, off_t offset, const struct iovec* iov, int n,
                       ssize_t done) {
    for (int i = 0; i < n && done > 0; ++i) {
        size_t len = iov[i].iov_len < (size_t)done ? iov[i].iov_len : (size_t)done;
        emit(rec_write, rel, NULL, (uint64_t)offset, iov[i].iov_base, len);
        offset += (off_t)len;
        done -= (ssize_t)len;
    }
}

ssize_t write(int fd, const void* data, size_t len) {
    ensure();
    if (!ready || watched_fd(fd) == NULL) return real_write(fd, data, len);
    pthread_mutex_lock(&lock);
    int err = injected(0, watched_fd(fd));
    if (err != 0) {
        pthread_mutex_unlock(&lock);
        errno = err;
        return -1;
    }
    ssize_t n = real_write(fd, data, len);
    const char* rel = watched_fd(fd);
    if (n > 0 && rel != NULL && rel[0] != '\0') {
        off_t end = lseek(fd, 0, SEEK_CUR); /* also right for O_APPEND */
        emit(rec_write, rel, NULL, (uint64_t)(end - n), data, (uint64_t)n);
    }
    pthread_mutex_unlock(&lock);
    return n;
}

ssize_t pwrite(int fd, const void* data, size_t len, off_t offset) {
    ensure();
    if (!ready || watched_fd(fd) == NULL) return real_pwrite(fd, data, len, offset);
    pthread_mutex_lock(&lock);
    int err = injected(0, watched_fd(fd));
    if (err != 0) {
        pthread_mutex_unlock(&lock);
        errno = err;
        return -1;
    }
    ssize_t n = real_pwrite(fd, data, len, offset);
    const char* rel = watched_fd(fd);
    if (n > 0 && rel != NULL && rel[0] != '\0')
        emit(rec_write, rel, NULL, (uint64_t)offset, data, (uint64_t)n);
    pthread_mutex_unlock(&lock);
    return n;
}
ssize_t pwrite64(int fd, const void* data, size_t len, off_t offset)
    __attribute__((alias("pwrite")));

ssize_t writev(int fd, const struct iovec* iov, int count) {
    ensure();
    if (!ready || watched_fd(fd) == NULL) return real_writev(fd, iov, count);
    pthread_mutex_lock(&lock);
    int err = injected(0, watched_fd(fd));
    if (err != 0) {
        pthread_mutex_unlock(&lock);
        errno = err;
        return -1;
    }
    ssize_t n = real_writev(fd, iov, count);
    const char* rel = watched_fd(fd);
    if (n > 0 && rel != NULL && rel[0] != '\0')
        log_vector(rel, lseek(fd, 0, SEEK_CUR) - n, iov, count, n);
    pthread_mutex_unlock(&lock);
    return n;
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
    ensure();
    if (!ready || watched_fd(fd) == NULL) return real_pwritev(fd, iov, count, offset);
    pthread_mutex_lock(&lock);
    int err = injected(0, watched_fd(fd));
    if (err != 0) {
        pthread_mutex_unlock(&lock);
        errno = err;
        return -1;
    }
    ssize_t n = real_pwritev(fd, iov, count, offset);
    const char* rel = watched_fd(fd);
    if (n > 0 && rel != NULL && rel[0] != '\0') log_vector(rel, offset, iov, count, n);
    pthread_mutex_unlock(&lock);
    return n;
}
ssize_t pwritev64(int fd, const struct iovec* iov, int count, off_t offset)
    __attribute__((alias("pwritev")));

int ftruncate(int fd, off_t size) {
    ensure();
    if (!ready || watched_fd(fd) == NULL) return real_ftruncate(fd, size);
    pthread_mutex_lock(&lock);
    int err = injected(0, watched_fd(fd));
    if (err != 0) {
        pthread_mutex_unlock(&lock);
        errno = err;
        return -1;
    }
    int rc = real_ftruncate(fd, size);
    const char* rel = watched_fd(fd);
    if (rc == 0 && rel != NULL && rel[0] != '\0')
        emit(rec_truncate, rel, NULL, (uint64_t)size, NULL, 0);
    pthread_mutex_unlock(&lock);
    return rc;
}
int ftruncate64(int fd, off_t size) __attribute__((alias("ftruncate")));

static int do_sync(int fd, int (*real)(int)) {
    ensure();
    if (!ready || watched_fd(fd) == NULL) return real(fd);
    pthread_mutex_lock(&lock);
    int err = injected(1, watched_fd(fd));
    if (err != 0) {
        pthread_mutex_unlock(&lock);
        errno = err;
        return -1;
    }
    int rc = real(fd);
    const char* rel = watched_fd(fd);
    if (rc == 0 && rel != NULL) {
        if (rel[0] == '\0')
            emit(rec_dirsync, "", NULL, 0, NULL, 0);
        else
            emit(rec_sync, rel, NULL, 0, NULL, 0);
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

int fsync(int fd) {
    ensure();
    return do_sync(fd, real_fsync);
}
int fdatasync(int fd) {
    ensure();
    return do_sync(fd, real_fdatasync);
}

enum unlink_kind { by_unlink, by_unlinkat, by_remove };

static int do_unlink(enum unlink_kind kind, int dirfd, const char* path, int flags) {
    ensure();
    char buf[PATH_MAX];
    pthread_mutex_lock(&lock);
    const char* rel = ready ? relative(dirfd, path, buf) : NULL;
    int rc = kind == by_unlink     ? real_unlink(path)
             : kind == by_unlinkat ? real_unlinkat(dirfd, path, flags)
                                   : real_remove(path);
    if (rc == 0 && rel != NULL && rel[0] != '\0' && !(flags & AT_REMOVEDIR))
        emit(rec_unlink, rel, NULL, 0, NULL, 0);
    pthread_mutex_unlock(&lock);
    return rc;
}

int unlink(const char* path) { return do_unlink(by_unlink, AT_FDCWD, path, 0); }
int unlinkat(int dirfd, const char* path, int flags) {
    return do_unlink(by_unlinkat, dirfd, path, flags);
}
int remove(const char* path) { return do_unlink(by_remove, AT_FDCWD, path, 0); }

static int do_rename(int olddir, const char* from, int newdir, const char* to) {
    ensure();
    char a[PATH_MAX], b[PATH_MAX];
    pthread_mutex_lock(&lock);
    const char* ra = ready ? relative(olddir, from, a) : NULL;
    const char* rb = ready ? relative(newdir, to, b) : NULL;
    int rc = real_renameat(olddir, from, newdir, to);
    if (rc == 0 && ra != NULL && rb != NULL && ra[0] != '\0' && rb[0] != '\0')
        emit(rec_rename, ra, rb, 0, NULL, 0);
    else if (rc == 0 && (ra != NULL) != (rb != NULL))
        fprintf(stderr, "powercut: rename across the watched directory's edge is not modelled\n");
    pthread_mutex_unlock(&lock);
    return rc;
}

int rename(const char* from, const char* to) { return do_rename(AT_FDCWD, from, AT_FDCWD, to); }
int renameat(int olddir, const char* from, int newdir, const char* to) {
    return do_rename(olddir, from, newdir, to);
}
