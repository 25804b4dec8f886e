/* floor: the cheapest correct epoll echo server we know how to write.
 *
 * It exists to measure the kernel's share of an echo: one recv and one send per
 * readiness event, no per-message allocation, a per-connection buffer only for
 * bytes the kernel would not take. Every other server in bench/ is quoted as a
 * ratio to this one, so it must stay minimal and it must stay correct: a floor
 * that drops bytes would flatter everything measured against it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { io_buffer_size = 64 * 1024, max_events = 256 };

/* Indexed by fd so an idle connection costs a few bytes of a preallocated table
 * (untouched pages are never resident) and no allocation at all. */
struct conn {
  char* pending; /* bytes the kernel did not take yet; NULL when none */
  size_t pending_len;
  size_t pending_off;
};

static struct conn* conns;
static size_t conn_capacity;
static int epfd = -1;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void die(const char* what) {
  fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void close_conn(int fd) {
  struct conn* c = &conns[fd];
  free(c->pending);
  memset(c, 0, sizeof *c);
  close(fd); /* also removes it from the epoll set */
}

static void set_interest(int fd, uint32_t events) {
  struct epoll_event ev = {.events = events, .data = {.fd = fd}};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0) close_conn(fd);
}

/* The peer half-closed and everything is echoed: finish our half, then close. */
static void finish(int fd) {
  shutdown(fd, SHUT_WR);
  close_conn(fd);
}

static void on_readable(int fd, char* buf) {
  ssize_t n = recv(fd, buf, io_buffer_size, 0);
  if (n == 0) {
    finish(fd);
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) close_conn(fd);
    return;
  }
  size_t len = (size_t)n;
  ssize_t sent = send(fd, buf, len, MSG_NOSIGNAL);
  if (sent < 0) {
    if (errno != EAGAIN) {
      close_conn(fd);
      return;
    }
    sent = 0;
  }
  if ((size_t)sent == len) return;
  /* Short write: keep the rest and stop reading until it drains. Not reading is
   * the backpressure: the client's sends stall instead of our memory growing. */
  struct conn* c = &conns[fd];
  c->pending_len = len - (size_t)sent;
  c->pending_off = 0;
  c->pending = malloc(c->pending_len);
  if (c->pending == NULL) {
    close_conn(fd);
    return;
  }
  memcpy(c->pending, buf + sent, c->pending_len);
  set_interest(fd, EPOLLOUT);
}

static void on_writable(int fd) {
  struct conn* c = &conns[fd];
  ssize_t sent = send(fd, c->pending + c->pending_off, c->pending_len - c->pending_off, MSG_NOSIGNAL);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EINTR) close_conn(fd);
    return;
  }
  c->pending_off += (size_t)sent;
  if (c->pending_off < c->pending_len) return;
  free(c->pending);
  c->pending = NULL;
  c->pending_len = c->pending_off = 0;
  /* A FIN that arrived meanwhile is still queued: reading again will see it. */
  set_interest(fd, EPOLLIN);
}

static void accept_all(int lfd) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) fprintf(stderr, "floor: accept: %s\n", strerror(errno));
      return;
    }
    if ((size_t)fd >= conn_capacity) {
      close(fd);
      continue;
    }
    /* Every peer in bench/ sets TCP_NODELAY, so a 64 KiB echo split over two
     * segments never waits on a delayed ACK: we compare user space, not Nagle.
     * (On a Unix socket it fails, harmlessly: there is no Nagle to switch off.) */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN, .data = {.fd = fd}};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) close(fd);
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
      "usage: echo-floor [--port P] [--bind IPV4] | --unix PATH\n"
      "  Minimal epoll echo server (benchmark floor). --port 0 picks a free port;\n"
      "  prints 'listening on ADDR:PORT' once ready, exits 0 on SIGTERM/SIGINT.\n"
      "  --unix PATH: a Unix stream socket instead (@name: abstract namespace; a stale\n"
      "  file at PATH is replaced), ready line 'listening on unix://PATH'.\n",
      out);
}

int main(int argc, char** argv) {
  long port = 0;
  const char* bind_addr = "127.0.0.1";
  const char* unix_path = NULL;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
      port = parse_port(argv[++i]);
      if (port < 0) {
        fprintf(stderr, "echo-floor: bad --port '%s'\n", argv[i]);
        return 2;
      }
    } else if (i + 1 < argc && strcmp(argv[i], "--bind") == 0) {
      bind_addr = argv[++i];
    } else if (i + 1 < argc && strcmp(argv[i], "--unix") == 0) {
      unix_path = argv[++i];
    } else {
      usage(stderr);
      return 2;
    }
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait must return EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

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
  struct sockaddr_un uaddr;
  memset(&uaddr, 0, sizeof uaddr);
  uaddr.sun_family = AF_UNIX;
  socklen_t ulen = 0;
  if (unix_path != NULL) {
    size_t len = strlen(unix_path);
    if (len == 0 || len >= sizeof uaddr.sun_path || strcmp(unix_path, "@") == 0) {
      fprintf(stderr, "echo-floor: bad --unix '%s'\n", unix_path);
      return 2;
    }
    memcpy(uaddr.sun_path, unix_path, len);
    /* @name: the abstract namespace, a leading NUL and no terminating one. */
    if (unix_path[0] == '@') uaddr.sun_path[0] = '\0';
    else unlink(unix_path);
    ulen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (unix_path[0] == '@' ? 0 : 1));
  } else if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
    fprintf(stderr, "echo-floor: bad --bind '%s' (IPv4 literal expected)\n", bind_addr);
    return 2;
  }
  int lfd = socket(unix_path != NULL ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  if (unix_path == NULL) setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (unix_path != NULL ? bind(lfd, (struct sockaddr*)&uaddr, ulen) < 0
                        : bind(lfd, (struct sockaddr*)&addr, sizeof addr) < 0)
    die("bind");
  if (listen(lfd, SOMAXCONN) < 0) die("listen");
  socklen_t alen = sizeof addr;
  if (unix_path == NULL && getsockname(lfd, (struct sockaddr*)&addr, &alen) < 0) die("getsockname");

  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  struct epoll_event lev = {.events = EPOLLIN, .data = {.fd = lfd}};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0) die("epoll_ctl");

  if (unix_path != NULL) printf("listening on unix://%s\n", unix_path);
  else printf("listening on %s:%u\n", bind_addr, (unsigned)ntohs(addr.sin_port));
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
      if (fd == lfd) {
        accept_all(lfd);
      } else if (conns[fd].pending != NULL) {
        /* EPOLLOUT interest only while pending; errors surface via send. */
        on_writable(fd);
      } else {
        on_readable(fd, buf);
      }
    }
  }
  if (unix_path != NULL && unix_path[0] != '@') unlink(unix_path);
  return 0;
}
