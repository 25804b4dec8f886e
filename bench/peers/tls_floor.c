/* tls-floor: the cheapest correct TLS echo server we know how to write, the
 * yardstick for TLS cells.
 *
 * floor.c's shape with one SSL per connection: a single-threaded non-blocking epoll
 * loop, one SSL_read and one SSL_write per readiness event, a per-connection buffer
 * only for plaintext OpenSSL would not take yet. TLS as echo-svc speaks it by
 * default: OpenSSL's defaults (TLS 1.3 with its default suites and session
 * tickets), the certificate and key from the command line. Half-close is TLS's:
 * on the peer's close_notify, once everything is echoed, it sends its own and
 * closes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* A TLS record carries at most 16 KiB: one SSL_read never returns more. */
enum { io_buffer_size = 16 * 1024, max_events = 256 };

enum conn_state { conn_handshaking = 1, conn_open, conn_closing };

/* Indexed by fd, as in floor.c: an idle connection costs its SSL and nothing more. */
struct conn {
  SSL* ssl;
  unsigned char state;
  unsigned char want_write; /* the last SSL call wanted the socket writable */
  char* pending;            /* plaintext SSL_write has not taken yet; NULL when none */
  size_t pending_len;
};

static struct conn* conns;
static size_t conn_capacity;
static int epfd = -1;
static SSL_CTX* ctx;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void die(const char* what) {
  fprintf(stderr, "tls-floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void die_tls(const char* what) {
  fprintf(stderr, "tls-floor: %s: ", what);
  ERR_print_errors_fp(stderr);
  exit(1);
}

static void close_conn(int fd) {
  struct conn* c = &conns[fd];
  SSL_free(c->ssl);
  free(c->pending);
  memset(c, 0, sizeof *c);
  ERR_clear_error();
  close(fd); /* also removes it from the epoll set */
}

static void set_interest(int fd, int want_write) {
  struct conn* c = &conns[fd];
  if (c->want_write == want_write) return;
  struct epoll_event ev = {.events = want_write ? EPOLLOUT : EPOLLIN, .data = {.fd = fd}};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
    close_conn(fd);
    return;
  }
  c->want_write = (unsigned char)want_write;
}

/* After a failed SSL call: wait for the readiness it asked for, or close. Returns 0
 * when the connection is gone. */
static int wait_or_close(int fd, int ret) {
  switch (SSL_get_error(conns[fd].ssl, ret)) {
    case SSL_ERROR_WANT_READ: set_interest(fd, 0); return 1;
    case SSL_ERROR_WANT_WRITE: set_interest(fd, 1); return 1;
    default: close_conn(fd); return 0;
  }
}

/* The peer's close_notify came and everything is echoed: send ours, then close. */
static void finish(int fd) {
  struct conn* c = &conns[fd];
  c->state = conn_closing;
  int ret = SSL_shutdown(c->ssl);
  if (ret < 0 && SSL_get_error(c->ssl, ret) == SSL_ERROR_WANT_WRITE) {
    set_interest(fd, 1);
    return;
  }
  shutdown(fd, SHUT_WR);
  close_conn(fd);
}

/* Echo what SSL_write did not take; returns 1 once nothing is pending. */
static int flush_pending(int fd) {
  struct conn* c = &conns[fd];
  size_t written = 0;
  int ret = SSL_write_ex(c->ssl, c->pending, c->pending_len, &written);
  if (ret != 1) {
    wait_or_close(fd, ret);
    return 0;
  }
  free(c->pending);
  c->pending = NULL;
  c->pending_len = 0;
  set_interest(fd, 0);
  return 1;
}

static void on_readable(int fd, char* buf) {
  struct conn* c = &conns[fd];
  size_t n = 0;
  int ret = SSL_read_ex(c->ssl, buf, io_buffer_size, &n);
  if (ret != 1) {
    if (SSL_get_error(c->ssl, ret) == SSL_ERROR_ZERO_RETURN) finish(fd);
    else wait_or_close(fd, ret);
    return;
  }
  size_t written = 0;
  ret = SSL_write_ex(c->ssl, buf, n, &written);
  if (ret == 1) return;
  /* Not taken: keep it and stop reading until it is. As in floor.c, not reading is
   * the backpressure. OpenSSL wants the same bytes again; they move to our copy
   * (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
  c->pending = malloc(n);
  if (c->pending == NULL) {
    close_conn(fd);
    return;
  }
  memcpy(c->pending, buf, n);
  c->pending_len = n;
  wait_or_close(fd, ret);
}

static void on_event(int fd, char* buf) {
  struct conn* c = &conns[fd];
  switch (c->state) {
    case conn_handshaking: {
      int ret = SSL_accept(c->ssl);
      if (ret != 1) {
        wait_or_close(fd, ret);
        return;
      }
      c->state = conn_open;
      set_interest(fd, 0);
      return;
    }
    case conn_closing: finish(fd); return;
    default: break;
  }
  if (c->pending != NULL) {
    flush_pending(fd);
    return;
  }
  on_readable(fd, buf);
}

static void accept_all(int lfd) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) fprintf(stderr, "tls-floor: accept: %s\n", strerror(errno));
      return;
    }
    if ((size_t)fd >= conn_capacity) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn* c = &conns[fd];
    c->ssl = SSL_new(ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
      close_conn(fd);
      continue;
    }
    SSL_set_accept_state(c->ssl);
    c->state = conn_handshaking;
    struct epoll_event ev = {.events = EPOLLIN, .data = {.fd = fd}};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) close_conn(fd);
  }
}

static long parse_port(const char* text) {
  char* end = NULL;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 0 || v > 65535) return -1;
  return v;
}

static void usage(FILE* out) {
  fputs(
      "usage: echo-tls-floor --cert PEM --key PEM [--port P] [--bind IPV4]\n"
      "  Minimal epoll TLS echo server (benchmark floor for TLS). --port 0 picks a free\n"
      "  port; prints 'listening on ADDR:PORT' once ready, exits 0 on SIGTERM/SIGINT.\n",
      out);
}

int main(int argc, char** argv) {
  long port = 0;
  const char* bind_addr = "127.0.0.1";
  const char* cert = NULL;
  const char* key = NULL;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
      port = parse_port(argv[++i]);
      if (port < 0) {
        fprintf(stderr, "echo-tls-floor: bad --port '%s'\n", argv[i]);
        return 2;
      }
    } else if (i + 1 < argc && strcmp(argv[i], "--bind") == 0) {
      bind_addr = argv[++i];
    } else if (i + 1 < argc && strcmp(argv[i], "--cert") == 0) {
      cert = argv[++i];
    } else if (i + 1 < argc && strcmp(argv[i], "--key") == 0) {
      key = argv[++i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (cert == NULL || key == NULL) {
    usage(stderr);
    return 2;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait must return EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL) die_tls("SSL_CTX_new");
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) die_tls("--cert");
  if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) die_tls("--key");
  if (SSL_CTX_check_private_key(ctx) != 1) die_tls("--key does not match --cert");

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  conn_capacity =
      (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) ? (size_t)rl.rlim_cur : 1u << 20;
  conns = calloc(conn_capacity, sizeof *conns);
  if (conns == NULL) die("calloc");

  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
    fprintf(stderr, "echo-tls-floor: bad --bind '%s' (IPv4 literal expected)\n", bind_addr);
    return 2;
  }
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr*)&addr, sizeof addr) < 0) die("bind");
  if (listen(lfd, SOMAXCONN) < 0) die("listen");
  socklen_t alen = sizeof addr;
  if (getsockname(lfd, (struct sockaddr*)&addr, &alen) < 0) die("getsockname");

  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  struct epoll_event lev = {.events = EPOLLIN, .data = {.fd = lfd}};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0) die("epoll_ctl");

  printf("listening on %s:%u\n", bind_addr, (unsigned)ntohs(addr.sin_port));
  fflush(stdout);

  static char buf[io_buffer_size];
  struct epoll_event events[max_events];
  while (!stop_requested) {
    int n = epoll_wait(epfd, events, max_events, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == lfd) accept_all(lfd);
      else if (conns[fd].ssl != NULL) on_event(fd, buf);
    }
  }
  SSL_CTX_free(ctx);
  return 0;
}
