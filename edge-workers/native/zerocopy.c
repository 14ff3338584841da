/*
 * Zero-copy delivery of cached objects for the edge (Linux, N-API; built by src/zero-copy.ts).
 *
 * share(buffer) copies an object once into a memfd and returns a Buffer that maps it, plus the fd: the
 * cache keeps that Buffer as the object's body (Range slices, the disk tier and the fallback path read it
 * like any Buffer) and the same pages are what sendfile(2) hands to the socket. A node:http hit copies its
 * 100 KB body from user memory into the socket buffer (the largest single cost of a hit, ~25 % of the
 * edge's CPU in perf); sendfile from a memfd references the pages instead, as nginx does from the page cache.
 *
 * sendHeadAndFile(socketFd, head, fileFd, offset, length) writes the response head (latin1 string) with
 * MSG_MORE, then the body with sendfile, never blocking: it returns how many bytes of head + body the
 * kernel took (the caller writes the rest through the socket's normal, ordered path), or -errno when
 * nothing was written.
 *
 * The mapping and the fd live exactly as long as the Buffer: they are released by its finalizer, never
 * earlier, so a Buffer still referenced (a cache entry, a slice queued in libuv) never points at freed
 * memory and its fd number can never be reused by another file while an entry still names it.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
  void* addr;
  size_t len;
  int fd;
  int is_file;
} Region;

static int64_t live_regions = 0;
static int64_t live_bytes = 0;
static int64_t file_regions = 0;
static int64_t file_fallbacks = 0;
/* setStore(dir): objects go into unlinked files there (O_TMPFILE), pinned with mlock; NULL: memfds. */
static char* store_dir = NULL;

static void set_int(napi_env env, napi_value obj, const char* name, int64_t v) {
  napi_value x;
  napi_create_int64(env, v, &x);
  napi_set_named_property(env, obj, name, x);
}

/*
 * `len` bytes of `src` in an unlinked file in `dir` (O_TMPFILE, one pwrite), mapped shared and locked:
 * its fd, with the mapping in *addr; or -1 with nothing left open, and why in `why` (when why_len > 0).
 */
static int locked_file(const char* dir, const void* src, size_t len, void** addr, char* why, size_t why_len) {
  const char* step = NULL;
  *addr = MAP_FAILED;
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) step = "O_TMPFILE";
  else if (pwrite(fd, src, len, 0) != (ssize_t)len) step = "write";
  else if ((*addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) step = "mmap";
  else if (mlock(*addr, len) != 0) step = "mlock (RLIMIT_MEMLOCK)";
  if (step == NULL) return fd;
  if (why_len > 0) snprintf(why, why_len, "%s in %.100s: %s", step, dir, strerror(errno));
  if (*addr != MAP_FAILED) munmap(*addr, len);
  *addr = MAP_FAILED;
  if (fd >= 0) close(fd);
  return -1;
}

static void release_region(napi_env env, void* data, void* hint) {
  Region* r = (Region*)hint;
  int64_t adjusted;
  munmap(r->addr, r->len); /* also ends the mlock of a file region */
  close(r->fd);
  if (r->is_file) file_regions--;
  live_regions--;
  live_bytes -= (int64_t)r->len;
  napi_adjust_external_memory(env, -(int64_t)r->len, &adjusted);
  free(r);
}

static napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value share(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void* src;
  size_t len;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_buffer_info(env, argv[0], &src, &len) != napi_ok || len == 0) {
    napi_throw_type_error(env, NULL, "share: expected a non-empty Buffer");
    return NULL;
  }
  int fd = -1, is_file = 0;
  void* addr = MAP_FAILED;
  if (store_dir != NULL) {
    /*
     * An unlinked file in the page cache of a disk filesystem: written in one pwrite, so the kernel can
     * use large folios (ext4 since 6.16), which sendfile hands to the socket as a few large fragments,
     * where a memfd's 4 KiB pages cost a lookup and a fragment each, on this side and the reader's. mlock
     * keeps it in memory as a memfd would be (no reclaim, no disk read in the event loop). Any failure
     * (no O_TMPFILE, no space, RLIMIT_MEMLOCK): a memfd instead.
     */
    fd = locked_file(store_dir, src, len, &addr, NULL, 0);
    if (fd >= 0) is_file = 1;
    else file_fallbacks++;
  }
  if (!is_file) {
    fd = memfd_create("edge-object", MFD_CLOEXEC);
    if (fd < 0) return throw_errno(env, "memfd_create", errno);
    if (ftruncate(fd, (off_t)len) != 0) {
      int e = errno;
      close(fd);
      return throw_errno(env, "ftruncate", e);
    }
    addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) {
      int e = errno;
      close(fd);
      return throw_errno(env, "mmap", e);
    }
    memcpy(addr, src, len);
  }
  Region* r = malloc(sizeof(Region));
  if (!r) {
    munmap(addr, len);
    close(fd);
    return throw_errno(env, "malloc", ENOMEM);
  }
  r->addr = addr;
  r->len = len;
  r->fd = fd;
  r->is_file = is_file;
  if (is_file) file_regions++;
  napi_value buf;
  if (napi_create_external_buffer(env, len, addr, release_region, r, &buf) != napi_ok) {
    munmap(addr, len);
    close(fd);
    free(r);
    napi_throw_error(env, NULL, "share: external buffers are not allowed here");
    return NULL;
  }
  live_regions++;
  live_bytes += (int64_t)len;
  int64_t adjusted;
  // The mapping is memory V8 cannot see: tell it, so evicted objects are collected under pressure.
  napi_adjust_external_memory(env, (int64_t)len, &adjusted);
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "buffer", buf);
  set_int(env, out, "fd", fd);
  return out;
}

static napi_value send_head_and_file(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  int32_t sock = -1, file = -1;
  int64_t off = 0, len = 0;
  char head[8192];
  size_t hlen = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5 || napi_get_value_int32(env, argv[0], &sock) != napi_ok || napi_get_value_int32(env, argv[2], &file) != napi_ok ||
      napi_get_value_int64(env, argv[3], &off) != napi_ok || napi_get_value_int64(env, argv[4], &len) != napi_ok || sock < 0 ||
      file < 0 || off < 0 || len < 0) {
    napi_create_int64(env, -EINVAL, &result);
    return result;
  }
  // A head that does not fit (or is not a string) goes the normal way.
  if (napi_get_value_string_latin1(env, argv[1], head, sizeof head, &hlen) != napi_ok || hlen >= sizeof head - 1) {
    napi_create_int64(env, -E2BIG, &result);
    return result;
  }
  ssize_t n = send(sock, head, hlen, MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) {
    napi_create_int64(env, -(int64_t)errno, &result);
    return result;
  }
  int64_t total = n;
  if ((size_t)n == hlen) {
    off_t o = (off_t)off;
    int64_t left = len;
    // The socket is non-blocking (libuv): sendfile stops at a full socket buffer (EAGAIN) or an error,
    // and the caller writes what is left through libuv, which waits for the socket and reports errors.
    while (left > 0) {
      ssize_t s = sendfile(sock, file, &o, (size_t)left);
      if (s <= 0) break;
      left -= s;
      total += s;
    }
  }
  napi_create_int64(env, total, &result);
  return result;
}

static napi_value stats(napi_env env, napi_callback_info info) {
  napi_value out;
  napi_create_object(env, &out);
  set_int(env, out, "regions", live_regions);
  set_int(env, out, "bytes", live_bytes);
  set_int(env, out, "fileRegions", file_regions);
  set_int(env, out, "fileFallbacks", file_fallbacks);
  return out;
}

/*
 * setStore(dir | null): where share() puts objects from now on. A directory is tried at once (an unlinked
 * file, written, mapped and locked): '' when it works, else why not (and memfds stay in use).
 */
static napi_value set_store(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  char dir[4096];
  size_t n = 0;
  napi_valuetype t = napi_null;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  free(store_dir);
  store_dir = NULL;
  if (t != napi_string) {
    napi_create_string_utf8(env, "", 0, &out);
    return out;
  }
  if (napi_get_value_string_utf8(env, argv[0], dir, sizeof dir, &n) != napi_ok || n == 0 || n >= sizeof dir - 1) {
    napi_create_string_utf8(env, "directory name too long or empty", NAPI_AUTO_LENGTH, &out);
    return out;
  }
  char why[200] = "";
  char page[4096] = { 0 };
  void* addr;
  int fd = locked_file(dir, page, sizeof page, &addr, why, sizeof why);
  if (fd >= 0) {
    munmap(addr, sizeof page);
    close(fd);
    store_dir = strdup(dir);
  }
  napi_create_string_utf8(env, why, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* The soft limit on open files raised to the hard one (as nginx's worker_rlimit_nofile does); returns it. */
static napi_value raise_fd_limit(napi_env env, napi_callback_info info) {
  struct rlimit rl;
  napi_value out;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    napi_create_int64(env, -1, &out);
    return out;
  }
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit want = { rl.rlim_max, rl.rlim_max };
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl.rlim_cur = rl.rlim_max;
  }
  napi_create_int64(env, rl.rlim_cur == RLIM_INFINITY ? INT32_MAX : (int64_t)rl.rlim_cur, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
    { "share", NULL, share, NULL, NULL, NULL, napi_default, NULL },
    { "sendHeadAndFile", NULL, send_head_and_file, NULL, NULL, NULL, napi_default, NULL },
    { "stats", NULL, stats, NULL, NULL, NULL, napi_default, NULL },
    { "setStore", NULL, set_store, NULL, NULL, NULL, napi_default, NULL },
    { "raiseFdLimit", NULL, raise_fd_limit, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
