/*
 * The edge's native hit path (Linux, N-API; built and wrapped by src/fast-path.ts).
 *
 * node:http spends ~14-18 us of user CPU per request (request and response objects, events, timers,
 * header handling); a cached hit's own logic needs ~2. Here a connection is served in C, on node's own
 * event loop (one uv_poll on a private epoll set, so no thread and no lock), as long as each request is
 * a plain hit:
 *
 *   GET /g/{grant}/{key} HTTP/1.1, no body, no Range / If-Range / Upgrade / Expect, Connection absent or
 *   keep-alive, If-None-Match absent or one plain value, a grant this file verifies itself (HMAC-SHA256
 *   with OpenSSL, exactly the format of libs/grants: kid, expiry, scope = the object's track and version,
 *   session tag when the grant is bound and the request carries a `sid` cookie), and an object the JS
 *   cache registered here (put) that is fresh (HIT, or 304 for an If-None-Match equal to its ETag) or
 *   inside stale-while-revalidate (STALE, and JS is asked to revalidate it).
 *
 * The answer is the same bytes node would send: a head JS built once for the object (status line and
 * headers, as storeHitHead in edge-server.ts), `age`, `Date`, `Connection`/`Keep-Alive`, then the body
 * by sendfile from the object's memfd (a dup of it: the object stays valid while a send is in flight,
 * whatever JS evicts) or from a private copy for small ones.
 *
 * A miss (the same request, its object not registered or expired past stale-while-revalidate) is parked:
 * the connection stops being read, JS gets a fetch event (raw head, park id), checks the grant, loads the
 * object (coalesced) and calls resume(): with heads, the request is answered on the next poll from the object
 * JS registered; without, the connection goes to node:http (resume returns it), request and all.
 *
 * Anything else is never answered here: the connection is handed to node:http (handoff callback: the fd
 * and every byte read so far, unparsed), which serves it from then on with the full edge logic (refusals
 * and their JSON problems, misses, coalescing, stale, Range, 304, CMCD, metrics). So a request this file
 * does not understand costs one handoff, never a wrong answer. Handed-off connections stay with node.
 *
 * Counters, latency histograms and handoff reasons are read by JS on /metrics. Events for JS (an access-log
 * line: 1 in N hits and every STALE; the first hit of an object that wants its next segments prefetched;
 * a revalidation; a CMCD `nor` hint) are queued and given to JS after each batch of socket events, when
 * no C state is being walked.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define IN_CAP 4096
#define HEAD_CAP 2048
#define MAX_TARGET 1024
#define MAX_GRANT 128
#define MAX_SID 128
#define MAX_TRACK 64
#define MAX_KEYS 16
#define OBJ_BUCKETS 65536
#define GRANT_BUCKETS 16384
#define MAX_GRANTS 50000
#define MAX_SLOTS 262144
#define MAX_BUCKETS 32
#define EVENTS_PER_WAIT 256
#define PARK_BUCKETS 4096

/* Why a connection went to node:http (edge_native_handoffs_total{reason}). */
enum {
  R_NONE,
  R_METHOD,
  R_VERSION,
  R_REQUEST_LINE,
  R_PATH,
  R_HEADER_SYNTAX,
  R_HEAD_TOO_LARGE,
  R_HOST,
  R_BODY,
  R_CONNECTION,
  R_UPGRADE,
  R_RANGE,
  R_CONDITIONAL,
  R_NOT_CACHED,
  R_EXPIRED,
  R_GRANT,
  R_MISS,
  R_COUNT
};
static const char* const REASONS[R_COUNT] = { "none", "method", "version", "request_line", "path", "header_syntax", "head_too_large", "host", "body",
                                              "connection", "upgrade", "range", "conditional", "not_cached", "expired", "grant", "miss" };

typedef struct Obj {
  struct Obj* next;
  uint64_t hash;
  char* key;
  size_t key_len;
  char track[MAX_TRACK + 1];
  size_t track_len;
  int64_t version;
  int fd;       /* dup of the memfd, or -1 */
  char* body;   /* private copy when fd < 0 */
  size_t size;
  char* head;   /* status line + headers, each ending CRLF, without age/Date/Connection */
  size_t head_len;
  char* stale_head; /* the same for a STALE answer */
  size_t stale_head_len;
  char* nm_head; /* a 304 (fresh copy, If-None-Match equal to the ETag) */
  size_t nm_head_len;
  char* etag;
  size_t etag_len;
  double stored_at_ms;
  int64_t initial_age;
  double fresh_until_ms;
  double swr_until_ms; /* until then a stale copy is answered STALE while JS revalidates it */
  double revalidate_asked_ms;
  int wants_prefetch;
  int refs;
  int slot;
} Obj;

typedef struct Grant {
  struct Grant* next;
  uint64_t hash;
  char token[MAX_GRANT + 1];
  size_t token_len;
  char track[MAX_TRACK + 1];
  size_t track_len;
  int64_t version;
  double exp_ms;
  int bound;
  int key_index;
  uint8_t tag[12];
  char sid[MAX_SID + 1]; /* last session id checked against a bound grant, '' none */
  size_t sid_len;
} Grant;

typedef struct Conn {
  struct Conn *prev, *next;
  int fd;
  int want_out;
  char in[IN_CAP];
  size_t in_len;
  double first_byte_ms; /* when the pending partial request started, 0 none */
  double last_active_ms;
  /* the response in flight */
  char head[HEAD_CAP];
  size_t head_len, head_off;
  Obj* obj;
  size_t body_off, body_end;
  uint64_t started_ns;
  int kind; /* the response in flight: K_HIT, K_STALE (their own histograms) or K_RESUMED (JS times it) */
  /* A request parked for JS (a miss): P_WAITING until resume(), then P_SERVE until the next poll answers it. */
  int parked;
  double park_id;
  struct Conn* pnext; /* the park table's chain */
  char* res_lines; /* P_SERVE: the 200 and 304 heads JS chose (MISS, or HIT when it was loaded meanwhile or from disk) */
  size_t res_lines_len;
  char* res_nm;
  size_t res_nm_len;
} Conn;

enum { K_HIT, K_STALE, K_RESUMED };
enum { P_NONE, P_WAITING, P_SERVE };

typedef struct Event {
  int kind; /* 1 prefetch, 2 access log (sampled HIT, every STALE), 3 revalidate, 4 CMCD nor hint (raw head), 5 fetch (a parked miss: raw head, bytes = park id, stale = expired copy) */
  char* key;
  char* raw; /* request head (kind 2) */
  size_t raw_len;
  double bytes;
  double status;
  int stale;
} Event;

typedef struct Handoff {
  int fd;
  char* bytes;
  size_t len;
} Handoff;

typedef struct Fast {
  napi_env env;
  napi_ref on_handoff, on_event, self_ref;
  napi_async_context actx;
  uv_poll_t poll;
  uv_timer_t timer;
  int epfd;
  int closing, closed, handles_open;
  Conn conns; /* list head */
  int64_t n_conns;
  Conn* park_table[PARK_BUCKETS]; /* parked connections by park id */
  int64_t n_parked;
  double park_seq;
  int park_misses; /* misses wait here for JS (fetch event) instead of going to node:http */
  Obj* objs[OBJ_BUCKETS];
  int64_t n_objs;
  Grant* grants[GRANT_BUCKETS];
  int64_t n_grants;
  struct { char kid[33]; size_t kid_len; uint8_t* secret; size_t secret_len; } keys[MAX_KEYS];
  int n_keys;
  int binding; /* 0 off, 1 when-present, 2 required */
  char keep_alive_lines[128];
  size_t keep_alive_len;
  double keep_alive_ms, headers_timeout_ms, request_timeout_ms, check_every_ms;
  int64_t sample_every, sample_counter;
  uint8_t* used; /* MAX_SLOTS, shared with JS (second chance for the LRU) */
  int free_slots[MAX_SLOTS];
  int n_free;
  double bounds[MAX_BUCKETS];
  int n_bounds;
  double hist[MAX_BUCKETS + 1];
  double hist_sum;
  double hist_stale[MAX_BUCKETS + 1];
  double hist_stale_sum;
  /* counters */
  double hits, stale, not_modified, bytes, zero_copy, partial, handoffs, taken, verified, parks, resumed;
  double handoff_reasons[R_COUNT];
  int64_t date_second;
  char date_line[64];
  size_t date_len;
  Event* events;
  size_t n_events, cap_events;
  Handoff* handoffs_q;
  size_t n_handoffs, cap_handoffs;
} Fast;

/* ---- small helpers ------------------------------------------------------------------------- */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)(ts.tv_nsec / 1000000);
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t fnv(const char* s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= (uint8_t)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static int lower_eq(const char* a, size_t n, const char* lit) {
  size_t m = strlen(lit);
  if (n != m) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
    if (c != lit[i]) return 0;
  }
  return 1;
}

static int contains(const char* s, size_t n, const char* lit) {
  size_t m = strlen(lit);
  if (m > n) return 0;
  return memmem(s, n, lit, m) != NULL;
}

static int is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
  return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* ---- objects (registered by JS) ----------------------------------------------------------- */

static void obj_release(Fast* f, Obj* o) {
  if (--o->refs > 0) return;
  if (o->fd >= 0) close(o->fd);
  if (o->slot >= 0) f->free_slots[f->n_free++] = o->slot;
  free(o->body);
  free(o->head);
  free(o->stale_head);
  free(o->nm_head);
  free(o->etag);
  free(o->key);
  free(o);
}

static Obj* obj_find(Fast* f, const char* key, size_t len) {
  uint64_t h = fnv(key, len);
  for (Obj* o = f->objs[h & (OBJ_BUCKETS - 1)]; o; o = o->next)
    if (o->hash == h && o->key_len == len && memcmp(o->key, key, len) == 0) return o;
  return NULL;
}

static int obj_remove(Fast* f, const char* key, size_t len) {
  uint64_t h = fnv(key, len);
  Obj** p = &f->objs[h & (OBJ_BUCKETS - 1)];
  for (; *p; p = &(*p)->next) {
    Obj* o = *p;
    if (o->hash == h && o->key_len == len && memcmp(o->key, key, len) == 0) {
      *p = o->next;
      f->n_objs--;
      obj_release(f, o);
      return 1;
    }
  }
  return 0;
}

/* ---- grants: libs/grants/src/grant.ts, verification only --------------------------------- */

static int b64url_val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/* Strict base64url without padding; returns decoded length or -1. */
static int b64url_decode(const char* s, size_t n, uint8_t* out) {
  if (n % 4 == 1) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64url_val((unsigned char)s[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  /* Leftover bits must be zero (one encoding per byte string, as Node's decoder would round-trip). */
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return -1;
  return (int)o;
}

static int hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* a, size_t a_len, const uint8_t* b, size_t b_len, uint8_t out[32]) {
  uint8_t buf[MAX_GRANT + MAX_TRACK + 64];
  if (a_len + b_len > sizeof buf) return 0;
  memcpy(buf, a, a_len);
  memcpy(buf + a_len, b, b_len);
  unsigned int len = 0;
  return HMAC(EVP_sha256(), key, (int)key_len, buf, a_len + b_len, out, &len) != NULL && len == 32;
}

/* A verified grant for (track, version) or NULL (any failure: JS decides and answers). */
static Grant* grant_check(Fast* f, const char* tok, size_t tok_len, const Obj* o, double now) {
  if (tok_len < 10 || tok_len > MAX_GRANT) return NULL;
  uint64_t h = fnv(tok, tok_len);
  Grant** bucket = &f->grants[h & (GRANT_BUCKETS - 1)];
  for (Grant* g = *bucket; g; g = g->next) {
    if (g->hash == h && g->token_len == tok_len && memcmp(g->token, tok, tok_len) == 0) {
      if (g->track_len == o->track_len && memcmp(g->track, o->track, o->track_len) == 0 && g->version == o->version) return now < g->exp_ms ? g : NULL;
      break; /* same token, other scope: verify from scratch (it will fail unless the MAC says otherwise) */
    }
  }
  uint8_t raw[MAX_GRANT];
  int n = b64url_decode(tok, tok_len, raw);
  if (n < 7 + 1 + 32 || raw[0] != 1) return NULL;
  int kid_len = raw[6], flags = raw[5];
  if (kid_len < 1 || kid_len > 32 || (flags & ~1) != 0) return NULL;
  int header_len = 7 + kid_len + ((flags & 1) ? 12 : 0);
  if (n != header_len + 32) return NULL;
  int ki = -1;
  for (int i = 0; i < f->n_keys; i++)
    if (f->keys[i].kid_len == (size_t)kid_len && memcmp(f->keys[i].kid, raw + 7, (size_t)kid_len) == 0) ki = i;
  if (ki < 0) return NULL;
  for (int i = 0; i < kid_len; i++) {
    unsigned char c = raw[7 + i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return NULL;
  }
  char scope[MAX_TRACK + 32];
  int scope_len = snprintf(scope, sizeof scope, "%c%.*s%c%lld", 0, (int)o->track_len, o->track, 0, (long long)o->version);
  if (scope_len <= 0 || (size_t)scope_len >= sizeof scope) return NULL;
  uint8_t mac[32];
  if (!hmac_sha256(f->keys[ki].secret, f->keys[ki].secret_len, raw, (size_t)header_len, (const uint8_t*)scope, (size_t)scope_len, mac)) return NULL;
  if (CRYPTO_memcmp(mac, raw + header_len, 32) != 0) return NULL;
  uint32_t exp_s = ((uint32_t)raw[1] << 24) | ((uint32_t)raw[2] << 16) | ((uint32_t)raw[3] << 8) | raw[4];
  double exp_ms = (double)exp_s * 1000.0;
  if (now >= exp_ms) return NULL;
  f->verified++;
  /* Remember it (bounded: the whole memo is dropped when full, then refilled one HMAC per grant). */
  if (f->n_grants >= MAX_GRANTS) {
    for (int i = 0; i < GRANT_BUCKETS; i++) {
      for (Grant* g = f->grants[i]; g;) {
        Grant* nx = g->next;
        free(g);
        g = nx;
      }
      f->grants[i] = NULL;
    }
    f->n_grants = 0;
  }
  for (Grant** p = bucket; *p; p = &(*p)->next) {
    if ((*p)->hash == h && (*p)->token_len == tok_len && memcmp((*p)->token, tok, tok_len) == 0) {
      Grant* old = *p;
      *p = old->next;
      free(old);
      f->n_grants--;
      break;
    }
  }
  Grant* g = calloc(1, sizeof(Grant));
  if (!g) return NULL;
  g->hash = h;
  memcpy(g->token, tok, tok_len);
  g->token_len = tok_len;
  memcpy(g->track, o->track, o->track_len);
  g->track_len = o->track_len;
  g->version = o->version;
  g->exp_ms = exp_ms;
  g->bound = flags & 1;
  g->key_index = ki;
  if (g->bound) memcpy(g->tag, raw + 7 + kid_len, 12);
  g->next = f->grants[h & (GRANT_BUCKETS - 1)];
  f->grants[h & (GRANT_BUCKETS - 1)] = g;
  f->n_grants++;
  return g;
}

/* A bound grant against the request's `sid` cookie: 1 ok, 0 not here (JS decides). As edge-server.ts. */
static int session_ok(Fast* f, Grant* g, const char* cookie, size_t cookie_len, int cookie_count) {
  if (!g->bound || f->binding == 0) return 1;
  if (cookie_count > 1) return 0;
  const char* sid = NULL;
  size_t sid_len = 0;
  size_t i = 0;
  while (cookie_count == 1 && i < cookie_len) {
    size_t j = i;
    while (j < cookie_len && cookie[j] != ';') j++;
    size_t a = i, b = j;
    while (a < b && (cookie[a] == ' ' || cookie[a] == '\t')) a++;
    while (b > a && (cookie[b - 1] == ' ' || cookie[b - 1] == '\t')) b--;
    if (b - a >= 4 && memcmp(cookie + a, "sid=", 4) == 0) {
      sid = cookie + a + 4;
      sid_len = b - a - 4;
      break;
    }
    i = j + 1;
  }
  if (sid == NULL) return f->binding == 1;
  if (sid_len > MAX_SID || memchr(sid, '%', sid_len) != NULL) return 0;
  if (g->sid_len == sid_len && sid_len > 0 && memcmp(g->sid, sid, sid_len) == 0) return 1;
  uint8_t mac[32];
  if (!hmac_sha256(f->keys[g->key_index].secret, f->keys[g->key_index].secret_len, (const uint8_t*)"sid\0", 4, (const uint8_t*)sid, sid_len, mac)) return 0;
  if (CRYPTO_memcmp(mac, g->tag, 12) != 0) return 0;
  memcpy(g->sid, sid, sid_len);
  g->sid_len = sid_len;
  return 1;
}

/* ---- connections -------------------------------------------------------------------------- */

static void unpark(Fast* f, Conn* c) {
  if (c->parked != P_NONE) {
    for (Conn** p = &f->park_table[(uint64_t)c->park_id & (PARK_BUCKETS - 1)]; *p; p = &(*p)->pnext) {
      if (*p == c) {
        *p = c->pnext;
        break;
      }
    }
    f->n_parked--;
    c->parked = P_NONE;
  }
  free(c->res_lines);
  free(c->res_nm);
  c->res_lines = c->res_nm = NULL;
  c->res_lines_len = c->res_nm_len = 0;
}

static void conn_unlink(Fast* f, Conn* c) {
  c->prev->next = c->next;
  c->next->prev = c->prev;
  f->n_conns--;
  epoll_ctl(f->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  if (c->obj) {
    obj_release(f, c->obj);
    c->obj = NULL;
  }
  unpark(f, c);
}

static void maybe_finish_close(Fast* f);

static void conn_close(Fast* f, Conn* c) {
  conn_unlink(f, c);
  close(c->fd);
  free(c);
  if (f->closing) maybe_finish_close(f);
}

/* Out of the native path for node:http (counted with its reason): the fd, which the caller now owns. */
static int detach(Fast* f, Conn* c, int reason) {
  int fd = c->fd;
  f->handoff_reasons[reason > 0 && reason < R_COUNT ? reason : R_NONE]++;
  f->handoffs++;
  conn_unlink(f, c);
  free(c);
  return fd;
}

static void queue_handoff(Fast* f, Conn* c, int reason) {
  if (f->n_handoffs == f->cap_handoffs) {
    size_t cap = f->cap_handoffs ? f->cap_handoffs * 2 : 16;
    Handoff* q = realloc(f->handoffs_q, cap * sizeof(Handoff));
    if (!q) {
      conn_close(f, c);
      return;
    }
    f->handoffs_q = q;
    f->cap_handoffs = cap;
  }
  Handoff* h = &f->handoffs_q[f->n_handoffs];
  h->bytes = NULL;
  h->len = c->in_len;
  if (c->in_len > 0) {
    h->bytes = malloc(c->in_len);
    if (!h->bytes) {
      conn_close(f, c);
      return;
    }
    memcpy(h->bytes, c->in, c->in_len);
  }
  h->fd = detach(f, c, reason);
  f->n_handoffs++;
}

static void queue_event(Fast* f, int kind, const char* key, size_t key_len, const char* raw, size_t raw_len, double bytes, double status, int stale) {
  if (f->n_events == f->cap_events) {
    size_t cap = f->cap_events ? f->cap_events * 2 : 16;
    Event* q = realloc(f->events, cap * sizeof(Event));
    if (!q) return;
    f->events = q;
    f->cap_events = cap;
  }
  Event* e = &f->events[f->n_events];
  e->kind = kind;
  e->key = strndup(key, key_len);
  e->raw = NULL;
  e->raw_len = 0;
  if (raw) {
    e->raw = malloc(raw_len);
    if (e->raw) {
      memcpy(e->raw, raw, raw_len);
      e->raw_len = raw_len;
    }
  }
  e->bytes = bytes;
  e->status = status;
  e->stale = stale;
  if (e->key) f->n_events++;
  else free(e->raw);
}

static void set_events(Fast* f, Conn* c, int want_out) {
  if (c->want_out == want_out) return;
  struct epoll_event ev = { .events = want_out ? EPOLLOUT : EPOLLIN, .data.ptr = c };
  if (epoll_ctl(f->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->want_out = want_out;
}

static void finish_response(Fast* f, Conn* c) {
  double micros = (double)(mono_ns() - c->started_ns) / 1000.0;
  double secs = micros / 1e6;
  int i = 0;
  while (i < f->n_bounds && secs > f->bounds[i]) i++;
  if (c->kind == K_STALE) {
    f->hist_stale[i]++;
    f->hist_stale_sum += secs;
  } else if (c->kind == K_HIT) {
    f->hist[i]++;
    f->hist_sum += secs;
  }
  obj_release(f, c->obj);
  c->obj = NULL;
  c->last_active_ms = now_ms();
}

static int pump_some(Conn* c) {
  Obj* o = c->obj;
  while (c->head_off < c->head_len) {
    ssize_t n;
    if (o->fd >= 0) {
      /*
       * The head goes out at once, as its own segment, not held for the body (no MSG_MORE, no
       * TCP_CORK): measured on this machine (lab, 10 interleaved 2 s runs of h2load at 256
       * connections), core 0 busy 20.9 us per 100 KB request this way, 26.2 with MSG_MORE and 27.4
       * corked (nginx, which corks: 27.1), at 1.035x, 1.028x and 0.99x nginx's req/s. Part of that
       * saving is moved, not gone: on loopback the client's ACK of the head runs on the client's core
       * and sends what BBR's pacing held back, where otherwise a pacing timer fires here (server +
       * client CPU per request is nginx's within 3 %; edge-workers/README.md, "Measured").
       */
      n = send(c->fd, c->head + c->head_off, c->head_len - c->head_off, MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
      struct iovec iov[2] = { { c->head + c->head_off, c->head_len - c->head_off }, { o->body + c->body_off, c->body_end - c->body_off } };
      n = writev(c->fd, iov, 2);
      if (n > 0 && (size_t)n > c->head_len - c->head_off) {
        c->body_off += (size_t)n - (c->head_len - c->head_off);
        c->head_off = c->head_len;
        break;
      }
    }
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : (errno == EINTR ? 0 : -1);
    c->head_off += (size_t)n;
  }
  while (c->body_off < c->body_end) {
    ssize_t n;
    if (o->fd >= 0) {
      off_t off = (off_t)c->body_off;
      n = sendfile(c->fd, o->fd, &off, c->body_end - c->body_off);
      if (n > 0) c->body_off = (size_t)off;
    } else {
      n = send(c->fd, o->body + c->body_off, c->body_end - c->body_off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) c->body_off += (size_t)n;
    }
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    if (n == 0) return -1;
  }
  return 1;
}

/*
 * Send what is left of the response; 1 done, 0 waiting for the socket, -1 the connection failed. Any
 * progress counts as activity: only a client that stopped reading meets the request timeout.
 */
static int pump(Conn* c) {
  size_t before = c->head_off + c->body_off;
  int r = pump_some(c);
  if (r == 0 && c->head_off + c->body_off != before) c->last_active_ms = now_ms();
  return r;
}

static void refresh_date(Fast* f, double now) {
  int64_t sec = (int64_t)(now / 1000.0);
  if (sec == f->date_second) return;
  f->date_second = sec;
  time_t t = (time_t)sec;
  struct tm tm;
  gmtime_r(&t, &tm);
  static const char* days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
  static const char* months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
  int n = snprintf(f->date_line, sizeof f->date_line, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
                   tm.tm_hour, tm.tm_min, tm.tm_sec);
  f->date_len = n > 0 ? (size_t)n : 0;
}

/* What serve_one needs from a request head (pointers into c->in). */
typedef struct Req {
  size_t head_len;
  const char *grant, *key, *cookie, *inm;
  size_t grant_len, key_len, cookie_len, inm_len;
  int cookie_count, inm_count, has_nor;
} Req;

/*
 * The first request in c->in, parsed: complete (1), incomplete (0), or not ours (-reason: hand the
 * connection to node). Nothing is consumed.
 */
static int parse_request(Conn* c, Req* r) {
  char* buf = c->in;
  size_t len = c->in_len;
  char* end = memmem(buf, len, "\r\n\r\n", 4);
  if (end == NULL) return len >= IN_CAP ? -R_HEAD_TOO_LARGE : 0;
  memset(r, 0, sizeof *r);
  r->head_len = (size_t)(end - buf) + 4;
  if (len < 4 || memcmp(buf, "GET ", 4) != 0) return -R_METHOD;
  char* target = buf + 4;
  char* sp = memchr(target, ' ', (size_t)(end - target));
  if (sp == NULL) return -R_REQUEST_LINE;
  size_t target_len = (size_t)(sp - target);
  if (target_len > MAX_TARGET || target_len < 4 || memcmp(target, "/g/", 3) != 0) return -R_PATH;
  for (size_t i = 0; i < target_len; i++) {
    unsigned char ch = (unsigned char)target[i];
    if (ch <= 0x20 || ch >= 0x7f) return -R_PATH;
  }
  char* line_end = memmem(sp, (size_t)(end + 2 - sp), "\r\n", 2);
  if (line_end == NULL || line_end - sp != 9 || memcmp(sp, " HTTP/1.1", 9) != 0) return -R_VERSION;
  char* q = memchr(target, '?', target_len);
  size_t path_len = q ? (size_t)(q - target) : target_len;
  /* A CMCD `nor` (next object) hint only steers prefetch: answered here, the hint goes to JS (event 4). */
  r->has_nor = q != NULL && contains(q, target_len - path_len, "nor");
  r->grant = target + 3;
  char* slash = memchr(r->grant, '/', path_len - 3);
  if (slash == NULL) return -R_PATH;
  r->grant_len = (size_t)(slash - r->grant);
  r->key = slash + 1;
  r->key_len = path_len - 3 - r->grant_len - 1;

  /* Header fields: anything unusual goes to node, which knows HTTP in full. */
  int host_count = 0, fields = 0;
  char* p = line_end + 2;
  while (p < end + 2) {
    char* le = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
    if (le == NULL || ++fields > 100) return -R_HEADER_SYNTAX;
    char* colon = memchr(p, ':', (size_t)(le - p));
    if (colon == NULL || colon == p) return -R_HEADER_SYNTAX;
    for (char* k = p; k < colon; k++)
      if (!is_tchar((unsigned char)*k)) return -R_HEADER_SYNTAX;
    char* v = colon + 1;
    char* ve = le;
    while (v < ve && (*v == ' ' || *v == '\t')) v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
    for (char* k = v; k < ve; k++) {
      unsigned char ch = (unsigned char)*k;
      if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return -R_HEADER_SYNTAX;
    }
    size_t nl = (size_t)(colon - p), vl = (size_t)(ve - v);
    switch (nl) {
      case 4:
        if (lower_eq(p, nl, "host")) host_count++;
        break;
      case 5:
        if (lower_eq(p, nl, "range")) return -R_RANGE;
        break;
      case 6:
        if (lower_eq(p, nl, "cookie")) {
          r->cookie = v;
          r->cookie_len = vl;
          r->cookie_count++;
        } else if (lower_eq(p, nl, "expect")) return -R_UPGRADE;
        break;
      case 7:
        if (lower_eq(p, nl, "upgrade")) return -R_UPGRADE;
        break;
      case 8:
        if (lower_eq(p, nl, "if-range")) return -R_RANGE;
        break;
      case 10:
        if (lower_eq(p, nl, "connection") && !lower_eq(v, vl, "keep-alive")) return -R_CONNECTION;
        break;
      case 12:
        if (lower_eq(p, nl, "cmcd-request") && contains(v, vl, "nor=")) r->has_nor = 1;
        break;
      case 13:
        if (lower_eq(p, nl, "if-none-match")) {
          r->inm = v;
          r->inm_len = vl;
          r->inm_count++;
        }
        break;
      case 14:
        if (lower_eq(p, nl, "content-length")) return -R_BODY;
        break;
      case 17:
        if (lower_eq(p, nl, "transfer-encoding")) return -R_BODY;
        break;
      default:
        break;
    }
    p = le + 2;
  }
  if (host_count != 1) return -R_HOST;
  return 1;
}

/*
 * If-None-Match against the object: 1 a 304 (one value equal to the ETag, and a 304 head to answer it
 * with), 0 a full answer (absent, or one plain other value), -R_CONDITIONAL any other form (lists, W/, *)
 * or a match without a 304 head: node's.
 */
static int conditional(const Req* r, const Obj* o, int can_304) {
  if (r->inm_count > 1) return -R_CONDITIONAL;
  if (r->inm_count == 0) return 0;
  if (r->inm_len == o->etag_len && memcmp(r->inm, o->etag, r->inm_len) == 0) return can_304 ? 1 : -R_CONDITIONAL;
  if (memchr(r->inm, ',', r->inm_len) != NULL || memchr(r->inm, '*', r->inm_len) != NULL || (r->inm_len >= 2 && r->inm[0] == 'W' && r->inm[1] == '/')) return -R_CONDITIONAL;
  return 0;
}

/*
 * Start the answer to the parsed request from `o` with the head lines given (the object's lines: what
 * node's _storeHeader adds for a keep-alive response is appended here).
 * 1, or -R_HEAD_TOO_LARGE (nothing started). The request stays in c->in (events copy its head) until consume_request().
 */
static int start_response(Fast* f, Conn* c, Obj* o, const char* lines, size_t lines_len, int not_modified, int kind, double now) {
  refresh_date(f, now);
  double age_ms = now - o->stored_at_ms;
  int64_t age = o->initial_age + (age_ms > 0 ? (int64_t)(age_ms / 1000.0) : 0);
  char age_line[40];
  int al = snprintf(age_line, sizeof age_line, "age: %lld\r\n", (long long)age);
  size_t hl = lines_len + (size_t)al + f->date_len + f->keep_alive_len + 2;
  if (al <= 0 || hl > HEAD_CAP) return -R_HEAD_TOO_LARGE;
  char* h = c->head;
  memcpy(h, lines, lines_len);
  h += lines_len;
  memcpy(h, age_line, (size_t)al);
  h += al;
  memcpy(h, f->date_line, f->date_len);
  h += f->date_len;
  memcpy(h, f->keep_alive_lines, f->keep_alive_len);
  h += f->keep_alive_len;
  memcpy(h, "\r\n", 2);
  c->head_len = hl;
  c->head_off = 0;
  c->obj = o;
  o->refs++;
  c->body_off = 0;
  c->body_end = not_modified ? 0 : o->size;
  c->started_ns = mono_ns();
  c->kind = kind;
  if (o->slot >= 0) f->used[o->slot] = 1;
  if (not_modified) f->not_modified++;
  f->bytes += (double)c->body_end;
  if (o->fd >= 0 && !not_modified) f->zero_copy++;
  return 1;
}

static void consume_request(Conn* c, const Req* r, double now) {
  memmove(c->in, c->in + r->head_len, c->in_len - r->head_len);
  c->in_len -= r->head_len;
  c->first_byte_ms = c->in_len > 0 ? now : 0;
}

/*
 * The first complete request in c->in: served (1), incomplete (0), or not ours (-reason: hand the
 * connection to node, or park it when the reason is a miss). Nothing is consumed unless it is served.
 */
static int serve_one(Fast* f, Conn* c, Req* r) {
  int pr = parse_request(c, r);
  if (pr <= 0) return pr;
  double now = now_ms();
  Obj* o = obj_find(f, r->key, r->key_len);
  if (o == NULL) return -R_NOT_CACHED;
  /* Fresh: HIT. Expired but inside stale-while-revalidate: STALE now, one revalidation in JS. Else a miss. */
  int stale = !(now < o->fresh_until_ms);
  if (stale && !(now < o->swr_until_ms && o->stale_head != NULL)) return -R_EXPIRED;
  int not_modified = conditional(r, o, !stale && o->nm_head != NULL);
  if (not_modified < 0) return not_modified;
  Grant* g = grant_check(f, r->grant, r->grant_len, o, now);
  if (g == NULL || !session_ok(f, g, r->cookie, r->cookie_len, r->cookie_count)) return -R_GRANT;

  const char* lines = not_modified ? o->nm_head : stale ? o->stale_head : o->head;
  size_t lines_len = not_modified ? o->nm_head_len : stale ? o->stale_head_len : o->head_len;
  int sr = start_response(f, c, o, lines, lines_len, not_modified, stale ? K_STALE : K_HIT, now);
  if (sr < 0) return sr;
  if (stale) f->stale++;
  else f->hits++;
  if (o->wants_prefetch) {
    o->wants_prefetch = 0;
    queue_event(f, 1, o->key, o->key_len, NULL, 0, 0, 0, 0);
  }
  if (r->has_nor) queue_event(f, 4, o->key, o->key_len, c->in, r->head_len, 0, 0, 0);
  if (stale && now - o->revalidate_asked_ms >= 1000) {
    /* At most one ask a second per object; JS coalesces with any fetch already running. */
    o->revalidate_asked_ms = now;
    queue_event(f, 3, o->key, o->key_len, NULL, 0, 0, 0, 0);
  }
  /* Every STALE answer is logged (as node's path does), hits 1 in N. */
  if (stale || ++f->sample_counter >= f->sample_every) {
    if (!stale) f->sample_counter = 0;
    queue_event(f, 2, o->key, o->key_len, c->in, r->head_len, (double)c->body_end, not_modified ? 304 : 200, stale);
  }
  consume_request(c, r, now);
  return 1;
}

/*
 * A miss (nothing registered, or expired past stale-while-revalidate): the connection waits here while
 * JS checks the grant, loads the object (coalesced with every other request for it) and calls resume().
 * Reading stops meanwhile; a peer that hangs up closes it (EPOLLRDHUP). 1 parked, 0 not (hand off).
 */
static int park(Fast* f, Conn* c, const Req* r, int expired) {
  if (!f->park_misses || f->closing) return 0;
  struct epoll_event ev = { .events = EPOLLRDHUP, .data.ptr = c };
  if (epoll_ctl(f->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) return 0;
  c->want_out = -1;
  c->parked = P_WAITING;
  c->park_id = ++f->park_seq;
  Conn** bucket = &f->park_table[(uint64_t)c->park_id & (PARK_BUCKETS - 1)];
  c->pnext = *bucket;
  *bucket = c;
  f->n_parked++;
  f->parks++;
  queue_event(f, 5, r->key, r->key_len, c->in, r->head_len, c->park_id, 0, expired);
  return 1;
}

/* After resume(): answer the parked request with the heads JS gave, from the object JS registered. 1, or -reason (hand off). */
static int serve_parked(Fast* f, Conn* c) {
  Req r;
  int pr = parse_request(c, &r);
  if (pr <= 0) return pr == 0 ? -R_MISS : pr; /* parked whole, so never incomplete */
  Obj* o = obj_find(f, r.key, r.key_len);
  if (o == NULL) return -R_NOT_CACHED; /* evicted meanwhile: node answers (from its cache or a new fetch) */
  int not_modified = conditional(&r, o, c->res_nm != NULL);
  if (not_modified < 0) return not_modified;
  double now = now_ms();
  int sr = start_response(f, c, o, not_modified ? c->res_nm : c->res_lines, not_modified ? c->res_nm_len : c->res_lines_len, not_modified, K_RESUMED, now);
  if (sr < 0) return sr;
  f->resumed++;
  consume_request(c, &r, now);
  return 1;
}

/* Serve complete requests while the socket takes the answers; park a miss; hand the connection off at the first request that is not ours. */
static void drive(Fast* f, Conn* c) {
  for (;;) {
    if (c->parked == P_WAITING) return;
    if (c->parked == P_SERVE) {
      int r = serve_parked(f, c);
      unpark(f, c);
      if (r < 0) {
        queue_handoff(f, c, -r);
        return;
      }
    }
    if (c->obj != NULL) {
      int r = pump(c);
      if (r < 0) {
        conn_close(f, c);
        return;
      }
      if (r == 0) {
        if (c->want_out != 1) f->partial++;
        set_events(f, c, 1);
        return;
      }
      finish_response(f, c);
      if (f->closing) {
        conn_close(f, c);
        return;
      }
    }
    if (c->in_len == 0) {
      set_events(f, c, 0);
      return;
    }
    Req req;
    int r = serve_one(f, c, &req);
    if (r < 0) {
      if ((r == -R_NOT_CACHED || r == -R_EXPIRED) && park(f, c, &req, r == -R_EXPIRED)) return;
      queue_handoff(f, c, -r);
      return;
    }
    if (r == 0) {
      set_events(f, c, 0);
      return;
    }
  }
}

static void on_readable(Fast* f, Conn* c) {
  for (;;) {
    if (c->in_len >= IN_CAP) break;
    ssize_t n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
    if (n > 0) {
      if (c->in_len == 0) c->first_byte_ms = now_ms();
      c->in_len += (size_t)n;
      if (c->in_len < IN_CAP) break; /* one read per wakeup is enough unless the buffer filled */
      continue;
    }
    if (n == 0) {
      /* Peer closed. A request already here could still be answered, but a half-closed player is gone. */
      conn_close(f, c);
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
    conn_close(f, c);
    return;
  }
  c->last_active_ms = now_ms();
  drive(f, c);
}

/* ---- JS callbacks, after each batch ------------------------------------------------------- */

static void call_js(Fast* f, napi_ref fn_ref, size_t argc, napi_value* argv) {
  napi_env env = f->env;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &recv); /* make_callback wants an object as `this` */
  if (napi_make_callback(env, f->actx, recv, fn, argc, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void flush_js(Fast* f) {
  if (f->n_handoffs == 0 && f->n_events == 0) return;
  napi_env env = f->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  /* Taken out first: a callback may re-enter (put/delete) and even queue more. */
  while (f->n_handoffs > 0 || f->n_events > 0) {
    if (f->n_handoffs > 0) {
      Handoff h = f->handoffs_q[--f->n_handoffs];
      napi_value argv[2];
      napi_create_int32(env, h.fd, &argv[0]);
      if (h.len > 0) {
        void* data;
        napi_create_buffer_copy(env, h.len, h.bytes, &data, &argv[1]);
      } else {
        napi_get_null(env, &argv[1]);
      }
      free(h.bytes);
      call_js(f, f->on_handoff, 2, argv);
      continue;
    }
    Event e = f->events[--f->n_events];
    napi_value argv[6];
    napi_create_int32(env, e.kind, &argv[0]);
    napi_create_string_latin1(env, e.key, NAPI_AUTO_LENGTH, &argv[1]);
    if (e.raw) napi_create_string_latin1(env, e.raw, e.raw_len, &argv[2]);
    else napi_get_null(env, &argv[2]);
    napi_create_double(env, e.bytes, &argv[3]);
    napi_create_double(env, e.status, &argv[4]);
    napi_get_boolean(env, e.stale, &argv[5]);
    free(e.key);
    free(e.raw);
    call_js(f, f->on_event, 6, argv);
  }
  napi_close_handle_scope(env, scope);
  if (f->closing) maybe_finish_close(f);
}

static void on_poll(uv_poll_t* handle, int status, int events) {
  Fast* f = handle->data;
  struct epoll_event evs[EVENTS_PER_WAIT];
  (void)status;
  (void)events;
  int n = epoll_wait(f->epfd, evs, EVENTS_PER_WAIT, 0);
  for (int i = 0; i < n; i++) {
    Conn* c = evs[i].data.ptr;
    uint32_t ev = evs[i].events;
    if (ev & EPOLLIN) on_readable(f, c);
    else if (ev & EPOLLOUT) drive(f, c);
    else if (ev & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) conn_close(f, c); /* EPOLLRDHUP: a parked request's client left */
  }
  flush_js(f);
}

static void on_timer(uv_timer_t* t) {
  Fast* f = t->data;
  double now = now_ms();
  for (Conn* c = f->conns.next; c != &f->conns;) {
    Conn* nx = c->next;
    if (c->parked != P_NONE) {
      /* Waiting for JS, whose upstream fetch has its own timeout. */
      c = nx;
      continue;
    }
    int idle = c->obj == NULL && c->in_len == 0;
    if ((idle && now - c->last_active_ms > f->keep_alive_ms) || (c->obj == NULL && c->in_len > 0 && now - c->first_byte_ms > f->headers_timeout_ms) ||
        (c->obj != NULL && now - c->last_active_ms > f->request_timeout_ms))
      conn_close(f, c);
    c = nx;
  }
}

/* ---- N-API ---------------------------------------------------------------------------------- */

#define CHECK_ARGS(n)                                              \
  size_t argc = n;                                                 \
  napi_value argv[n];                                              \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);           \
  if (argc < n) {                                                  \
    napi_throw_type_error(env, NULL, "fastpath: missing arguments"); \
    return NULL;                                                   \
  }

/* The instance, or NULL once closed (then every call is a no-op). */
static Fast* get_fast(napi_env env, napi_value v) {
  void* p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "fastpath: not an instance");
    return NULL;
  }
  return ((Fast*)p)->closed ? NULL : p;
}

static double get_num(napi_env env, napi_value obj, const char* name) {
  napi_value v;
  double d = 0;
  if (napi_get_named_property(env, obj, name, &v) == napi_ok) napi_get_value_double(env, v, &d);
  return d;
}

static void on_closed(uv_handle_t* h);

/* After close(): once no connection is left, both handles close; the instance is freed when JS drops it. */
static void maybe_finish_close(Fast* f) {
  if (f->closed || f->n_conns > 0 || f->n_handoffs > 0 || f->n_events > 0) return;
  f->closed = 1;
  uv_close((uv_handle_t*)&f->poll, on_closed);
  uv_close((uv_handle_t*)&f->timer, on_closed);
}

static void on_closed(uv_handle_t* h) {
  Fast* f = h->data;
  if (--f->handles_open > 0) return;
  /* Both handles closed: nothing can call in any more. Objects and grants go with the instance. */
  for (int i = 0; i < OBJ_BUCKETS; i++)
    for (Obj* o = f->objs[i]; o;) {
      Obj* nx = o->next;
      obj_release(f, o);
      o = nx;
    }
  for (int i = 0; i < GRANT_BUCKETS; i++)
    for (Grant* g = f->grants[i]; g;) {
      Grant* nx = g->next;
      free(g);
      g = nx;
    }
  for (int i = 0; i < f->n_keys; i++) {
    OPENSSL_cleanse(f->keys[i].secret, f->keys[i].secret_len);
    free(f->keys[i].secret);
  }
  close(f->epfd);
  memset(f->objs, 0, sizeof f->objs);
  memset(f->grants, 0, sizeof f->grants);
  f->n_keys = 0;
  napi_delete_reference(f->env, f->on_handoff);
  napi_delete_reference(f->env, f->on_event);
  napi_async_destroy(f->env, f->actx);
  free(f->events);
  free(f->handoffs_q);
  f->events = NULL;
  f->handoffs_q = NULL;
  f->cap_events = f->cap_handoffs = 0;
  /* The struct itself goes when JS drops its handle (finalize_fast): calls after close are no-ops. */
  napi_delete_reference(f->env, f->self_ref);
}

static void finalize_fast(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  free(((Fast*)data)->used);
  free(data);
}

/*
 * `used` belongs to the instance, not to its JS view: the view may be collected while connections are
 * still served (an edge dropped without close()), and the struct, kept alive by its own reference until
 * closed, still writes to it. It is freed with the struct (finalize_fast).
 */
static void finalize_used(napi_env env, void* data, void* hint) {
  (void)env;
  (void)data;
  (void)hint;
}

/* start({ keys: [{kid, secret}], binding, keepAliveMs, headersTimeoutMs, requestTimeoutMs, checkEveryMs, sampleEvery, bounds: number[] }, onHandoff, onEvent) */
static napi_value fp_start(napi_env env, napi_callback_info info) {
  CHECK_ARGS(3);
  Fast* f = calloc(1, sizeof(Fast));
  if (!f) {
    napi_throw_error(env, NULL, "fastpath: out of memory");
    return NULL;
  }
  f->env = env;
  f->conns.next = f->conns.prev = &f->conns;
  f->date_second = -1;
  napi_value keys, arr;
  uint32_t nk = 0;
  napi_get_named_property(env, argv[0], "keys", &keys);
  napi_get_array_length(env, keys, &nk);
  for (uint32_t i = 0; i < nk && f->n_keys < MAX_KEYS; i++) {
    napi_value k, kid, secret;
    napi_get_element(env, keys, i, &k);
    napi_get_named_property(env, k, "kid", &kid);
    napi_get_named_property(env, k, "secret", &secret);
    size_t kl = 0, sl = 0;
    napi_get_value_string_utf8(env, kid, f->keys[f->n_keys].kid, sizeof f->keys[f->n_keys].kid, &kl);
    void* sdata;
    if (napi_get_buffer_info(env, secret, &sdata, &sl) != napi_ok || sl == 0) continue;
    f->keys[f->n_keys].kid_len = kl;
    f->keys[f->n_keys].secret = malloc(sl);
    memcpy(f->keys[f->n_keys].secret, sdata, sl);
    f->keys[f->n_keys].secret_len = sl;
    f->n_keys++;
  }
  f->binding = (int)get_num(env, argv[0], "binding");
  f->keep_alive_ms = get_num(env, argv[0], "keepAliveMs");
  f->headers_timeout_ms = get_num(env, argv[0], "headersTimeoutMs");
  f->request_timeout_ms = get_num(env, argv[0], "requestTimeoutMs");
  f->park_misses = get_num(env, argv[0], "parkMisses") != 0;
  f->sample_every = (int64_t)get_num(env, argv[0], "sampleEvery");
  if (f->sample_every < 1) f->sample_every = 1;
  f->check_every_ms = get_num(env, argv[0], "checkEveryMs");
  if (!(f->check_every_ms >= 10)) f->check_every_ms = 1000;
  /* As node writes it (floor of the seconds, so a sub-second timeout says timeout=0). */
  int ka = f->keep_alive_ms > 0 ? snprintf(f->keep_alive_lines, sizeof f->keep_alive_lines, "Connection: keep-alive\r\nKeep-Alive: timeout=%lld\r\n", (long long)(f->keep_alive_ms / 1000))
                                     : snprintf(f->keep_alive_lines, sizeof f->keep_alive_lines, "Connection: keep-alive\r\n");
  f->keep_alive_len = (size_t)ka;
  uint32_t nb = 0;
  napi_get_named_property(env, argv[0], "bounds", &arr);
  napi_get_array_length(env, arr, &nb);
  for (uint32_t i = 0; i < nb && i < MAX_BUCKETS; i++) {
    napi_value v;
    napi_get_element(env, arr, i, &v);
    napi_get_value_double(env, v, &f->bounds[i]);
    f->n_bounds++;
  }
  f->used = calloc(MAX_SLOTS, 1);
  for (int i = MAX_SLOTS - 1; i >= 0; i--) f->free_slots[f->n_free++] = i;
  f->epfd = epoll_create1(EPOLL_CLOEXEC);
  uv_loop_t* loop;
  if (!f->used || f->epfd < 0 || napi_get_uv_event_loop(env, &loop) != napi_ok || f->n_keys == 0) {
    if (f->epfd >= 0) close(f->epfd);
    free(f->used);
    free(f);
    napi_throw_error(env, NULL, "fastpath: cannot start (epoll, event loop or keys)");
    return NULL;
  }
  napi_create_reference(env, argv[1], 1, &f->on_handoff);
  napi_create_reference(env, argv[2], 1, &f->on_event);
  napi_value name;
  napi_create_string_utf8(env, "edge-fastpath", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &f->actx);
  uv_poll_init(loop, &f->poll, f->epfd);
  f->poll.data = f;
  uv_poll_start(&f->poll, UV_READABLE, on_poll);
  uv_timer_init(loop, &f->timer);
  f->timer.data = f;
  uv_timer_start(&f->timer, on_timer, (uint64_t)f->check_every_ms, (uint64_t)f->check_every_ms);
  /* Neither keeps the process alive: the edge's listening server does, and close() ends both. */
  uv_unref((uv_handle_t*)&f->poll);
  uv_unref((uv_handle_t*)&f->timer);
  f->handles_open = 2;
  napi_value ext, used, out;
  napi_create_external(env, f, finalize_fast, NULL, &ext);
  /* A strong reference until both handles are closed: the struct must outlive every libuv callback. */
  napi_create_reference(env, ext, 1, &f->self_ref);
  napi_value ab;
  napi_create_external_arraybuffer(env, f->used, MAX_SLOTS, finalize_used, NULL, &ab);
  napi_create_typedarray(env, napi_uint8_array, MAX_SLOTS, ab, 0, &used);
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "handle", ext);
  napi_set_named_property(env, out, "used", used);
  return out;
}

/* take(h, fd): serve this accepted socket here (a dup of it; the caller closes its own). */
static napi_value fp_take(napi_env env, napi_callback_info info) {
  CHECK_ARGS(2);
  Fast* f = get_fast(env, argv[0]);
  napi_value out;
  int32_t fd = -1;
  napi_get_value_int32(env, argv[1], &fd);
  int ok = 0;
  if (f && !f->closing && fd >= 0) {
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    Conn* c = d >= 0 ? calloc(1, sizeof(Conn)) : NULL;
    if (c) {
      int flags = fcntl(d, F_GETFL);
      fcntl(d, F_SETFL, flags | O_NONBLOCK);
      int one = 1;
      setsockopt(d, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      c->fd = d;
      c->last_active_ms = now_ms();
      struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
      if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, d, &ev) == 0) {
        c->next = &f->conns;
        c->prev = f->conns.prev;
        f->conns.prev->next = c;
        f->conns.prev = c;
        f->n_conns++;
        f->taken++;
        ok = 1;
      } else {
        close(d);
        free(c);
      }
    } else if (d >= 0) {
      close(d);
    }
  }
  napi_get_boolean(env, ok, &out);
  return out;
}

/* A latin1 copy of a JS string of at most `max` chars (NULL when longer, empty or not a string). */
static char* dup_latin1(napi_env env, napi_value v, size_t max, size_t* len) {
  size_t n = 0;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string || napi_get_value_string_latin1(env, v, NULL, 0, &n) != napi_ok || n == 0 || n > max) return NULL;
  char* out = malloc(n + 1);
  if (out && napi_get_value_string_latin1(env, v, out, n + 1, len) != napi_ok) {
    free(out);
    return NULL;
  }
  return out;
}

/*
 * put(h, key, trackId, version, fd, body, head, staleHead, notModifiedHead, etag, storedAtMs, initialAge,
 *     freshUntilMs, swrUntilMs, wantsPrefetch) -> slot, or -1 (not kept: node serves it).
 * staleHead / notModifiedHead may be '' (then a stale copy or a 304 is node's).
 */
static napi_value fp_put(napi_env env, napi_callback_info info) {
  CHECK_ARGS(15);
  Fast* f = get_fast(env, argv[0]);
  napi_value out;
  int32_t slot = -1;
  Obj* o = NULL;
  if (!f || f->closing || f->n_free == 0) goto done;
  o = calloc(1, sizeof(Obj));
  if (!o) goto done;
  o->fd = -1;
  o->slot = -1;
  size_t track_len = 0;
  char* track = dup_latin1(env, argv[2], MAX_TRACK, &track_len);
  if (track) {
    memcpy(o->track, track, track_len);
    o->track_len = track_len;
    free(track);
  }
  o->key = dup_latin1(env, argv[1], MAX_TARGET, &o->key_len);
  o->head = dup_latin1(env, argv[6], HEAD_CAP - 256, &o->head_len);
  o->stale_head = dup_latin1(env, argv[7], HEAD_CAP - 256, &o->stale_head_len);
  o->nm_head = dup_latin1(env, argv[8], HEAD_CAP - 256, &o->nm_head_len);
  o->etag = dup_latin1(env, argv[9], 256, &o->etag_len);
  if (!o->key || !o->head || o->track_len == 0) goto fail;
  if (!o->etag) {
    /* No ETag to compare: no native 304. */
    free(o->nm_head);
    o->nm_head = NULL;
  }
  double version = 0, stored = 0, initial_age = 0, fresh = 0, swr = 0;
  int32_t fd = -1;
  bool prefetch = false;
  napi_get_value_double(env, argv[3], &version);
  napi_get_value_int32(env, argv[4], &fd);
  napi_get_value_double(env, argv[10], &stored);
  napi_get_value_double(env, argv[11], &initial_age);
  napi_get_value_double(env, argv[12], &fresh);
  napi_get_value_double(env, argv[13], &swr);
  napi_get_value_bool(env, argv[14], &prefetch);
  o->version = (int64_t)version;
  o->stored_at_ms = stored;
  o->initial_age = (int64_t)initial_age;
  o->fresh_until_ms = fresh;
  o->swr_until_ms = swr;
  o->wants_prefetch = prefetch;
  void* data = NULL;
  size_t size = 0;
  napi_valuetype bt;
  napi_typeof(env, argv[5], &bt);
  if (bt != napi_object || napi_get_buffer_info(env, argv[5], &data, &size) != napi_ok || size == 0) goto fail;
  o->size = size;
  if (fd >= 0) {
    o->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (o->fd < 0) goto fail;
  } else {
    o->body = malloc(size);
    if (!o->body) goto fail;
    memcpy(o->body, data, size);
  }
  o->hash = fnv(o->key, o->key_len);
  obj_remove(f, o->key, o->key_len);
  o->slot = f->free_slots[--f->n_free];
  f->used[o->slot] = 0;
  o->refs = 1;
  o->next = f->objs[o->hash & (OBJ_BUCKETS - 1)];
  f->objs[o->hash & (OBJ_BUCKETS - 1)] = o;
  f->n_objs++;
  slot = o->slot;
  goto done;
fail:
  if (o->fd >= 0) close(o->fd);
  free(o->body);
  free(o->key);
  free(o->head);
  free(o->stale_head);
  free(o->nm_head);
  free(o->etag);
  free(o);
done:
  napi_create_int32(env, slot, &out);
  return out;
}

static napi_value fp_delete(napi_env env, napi_callback_info info) {
  CHECK_ARGS(2);
  Fast* f = get_fast(env, argv[0]);
  napi_value out;
  char key[MAX_TARGET + 1];
  size_t len = 0, full = 0;
  int ok = 0;
  /* Longer keys are never put: measured first, so a truncated copy cannot name another object. */
  if (f && napi_get_value_string_latin1(env, argv[1], NULL, 0, &full) == napi_ok && full <= MAX_TARGET &&
      napi_get_value_string_latin1(env, argv[1], key, sizeof key, &len) == napi_ok)
    ok = obj_remove(f, key, len);
  napi_get_boolean(env, ok, &out);
  return out;
}

static void set_num(napi_env env, napi_value obj, const char* name, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, obj, name, x);
}

/*
 * resume(h, id, head, notModifiedHead): answer the parked request `id` (a fetch event's) from the object
 * JS has just registered, with these head lines (200, and 304 or '' for node to answer a matching
 * If-None-Match); true, or false when its connection is gone. resume(h, id, null, null): give it to
 * node:http now: { fd, bytes } (every byte read, the parked request first), or null when it is gone.
 */
static napi_value fp_resume(napi_env env, napi_callback_info info) {
  CHECK_ARGS(4);
  Fast* f = get_fast(env, argv[0]);
  napi_value out;
  napi_get_null(env, &out);
  double id = 0;
  napi_valuetype t = napi_null;
  napi_get_value_double(env, argv[1], &id);
  napi_typeof(env, argv[2], &t);
  Conn* c = f && id >= 1 ? f->park_table[(uint64_t)id & (PARK_BUCKETS - 1)] : NULL;
  while (c != NULL && !(c->parked == P_WAITING && c->park_id == id)) c = c->pnext;
  if (c == NULL) {
    if (t == napi_string) napi_get_boolean(env, false, &out);
    return out;
  }
  if (t == napi_string) {
    c->res_lines = dup_latin1(env, argv[2], HEAD_CAP, &c->res_lines_len);
    c->res_nm = dup_latin1(env, argv[3], HEAD_CAP, &c->res_nm_len);
    struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
    if (c->res_lines != NULL && epoll_ctl(f->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) {
      /* Answered on the next poll (the socket is writable at once): events and handoffs flush there. */
      c->want_out = 1;
      c->parked = P_SERVE;
      napi_get_boolean(env, true, &out);
      return out;
    }
  }
  napi_value fd, bytes;
  if (c->in_len > 0) {
    void* data;
    napi_create_buffer_copy(env, c->in_len, c->in, &data, &bytes);
  } else {
    napi_get_null(env, &bytes);
  }
  napi_create_int32(env, detach(f, c, R_MISS), &fd);
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "fd", fd);
  napi_set_named_property(env, out, "bytes", bytes);
  if (f->closing) maybe_finish_close(f);
  return out;
}

/* A histogram's per-bucket counts as a JS array. */
static void set_counts(napi_env env, napi_value obj, const char* name, const double* counts, int n) {
  napi_value arr;
  napi_create_array_with_length(env, (size_t)n, &arr);
  for (int i = 0; i < n; i++) {
    napi_value x;
    napi_create_double(env, counts[i], &x);
    napi_set_element(env, arr, (uint32_t)i, x);
  }
  napi_set_named_property(env, obj, name, arr);
}

static napi_value fp_stats(napi_env env, napi_callback_info info) {
  CHECK_ARGS(1);
  Fast* f = get_fast(env, argv[0]);
  if (!f) return NULL;
  napi_value out;
  napi_create_object(env, &out);
  set_num(env, out, "hits", f->hits);
  set_num(env, out, "stale", f->stale);
  set_num(env, out, "notModified", f->not_modified);
  set_num(env, out, "bytes", f->bytes);
  set_num(env, out, "zeroCopy", f->zero_copy);
  set_num(env, out, "partial", f->partial);
  set_num(env, out, "handoffs", f->handoffs);
  set_num(env, out, "taken", f->taken);
  set_num(env, out, "parks", f->parks);
  set_num(env, out, "resumed", f->resumed);
  set_num(env, out, "parked", (double)f->n_parked);
  set_num(env, out, "connections", (double)f->n_conns);
  set_num(env, out, "objects", (double)f->n_objs);
  set_num(env, out, "grants", (double)f->n_grants);
  set_num(env, out, "grantVerifications", f->verified);
  set_num(env, out, "latencySum", f->hist_sum);
  set_counts(env, out, "latencyCounts", f->hist, f->n_bounds + 1);
  set_num(env, out, "staleLatencySum", f->hist_stale_sum);
  set_counts(env, out, "staleLatencyCounts", f->hist_stale, f->n_bounds + 1);
  napi_value reasons;
  napi_create_object(env, &reasons);
  for (int i = 1; i < R_COUNT; i++) set_num(env, reasons, REASONS[i], f->handoff_reasons[i]);
  napi_set_named_property(env, out, "handoffReasons", reasons);
  return out;
}

/* close(h, force): no new connections; idle ones close now, busy ones after their response (or now, when forced). Returns how many remain. */
static napi_value fp_close(napi_env env, napi_callback_info info) {
  CHECK_ARGS(2);
  Fast* f = get_fast(env, argv[0]);
  bool force = false;
  napi_get_value_bool(env, argv[1], &force);
  napi_value out;
  if (!f) {
    napi_create_int64(env, 0, &out);
    return out;
  }
  f->closing = 1;
  for (Conn* c = f->conns.next; c != &f->conns;) {
    Conn* nx = c->next;
    if (force || (c->obj == NULL && c->parked == P_NONE)) conn_close(f, c);
    c = nx;
  }
  maybe_finish_close(f);
  napi_create_int64(env, f->closed ? 0 : f->n_conns, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
    { "start", NULL, fp_start, NULL, NULL, NULL, napi_default, NULL },
    { "take", NULL, fp_take, NULL, NULL, NULL, napi_default, NULL },
    { "put", NULL, fp_put, NULL, NULL, NULL, napi_default, NULL },
    { "delete", NULL, fp_delete, NULL, NULL, NULL, napi_default, NULL },
    { "stats", NULL, fp_stats, NULL, NULL, NULL, napi_default, NULL },
    { "close", NULL, fp_close, NULL, NULL, NULL, napi_default, NULL },
    { "resume", NULL, fp_resume, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
