/* splice-floor: floor.c's loop with the copy taken out.
 *
 * Each echo moves socket -> pipe -> socket with splice(2), inside the kernel: the
 * bare technique echo-svc's splice path is measured against. One shared pipe serves
 * every connection whose echo goes out whole; a connection whose echo the kernel
 * would not take keeps that pipe (its backpressure: we stop reading it) and a new
 * spare is made. Same CLI, ready line and signals as floor.c.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

enum { chunk = 64 * 1024, max_events = 256 };

struct pipe_pair {
  int r, w;
};

/* Indexed by fd; `held` is a pipe with `left` bytes of echo the socket did not take. */
struct conn {
  struct pipe_pair held;
  size_t left;
};

static struct conn* conns;
static size_t capacity;
static struct pipe_pair spare;
static int epfd = -1;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void fail(const char* what) {
  fprintf(stderr, "splice-floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* {-1, -1} when out of descriptors: the connection that needs it is dropped instead. */
static struct pipe_pair make_pipe(void) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return (struct pipe_pair){-1, -1};
  return (struct pipe_pair){fds[0], fds[1]};
}

static void drop(int fd) {
  struct conn* c = &conns[fd];
  if (c->left > 0) {
    close(c->held.r);
    close(c->held.w);
  }
  memset(c, 0, sizeof *c);
  close(fd);
}

static void watch(int fd, uint32_t events) {
  struct epoll_event ev = {.events = events, .data = {.fd = fd}};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0) drop(fd);
}

/* Moves up to `len` bytes from the pipe to the socket; what is left, or -1 on error. */
static ssize_t flush(int fd, struct pipe_pair p, size_t len) {
  while (len > 0) {
    ssize_t n = splice(p.r, NULL, fd, NULL, len, SPLICE_F_NONBLOCK);
    if (n > 0) {
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    return -1;
  }
  return (ssize_t)len;
}

static void on_readable(int fd) {
  if (spare.r < 0) spare = make_pipe();
  if (spare.r < 0) {
    drop(fd);
    return;
  }
  ssize_t n = splice(fd, NULL, spare.w, NULL, chunk, SPLICE_F_NONBLOCK);
  if (n == 0) {
    shutdown(fd, SHUT_WR);
    drop(fd);
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) drop(fd);
    return;
  }
  ssize_t left = flush(fd, spare, (size_t)n);
  if (left == 0) return;
  if (left < 0) {
    /* The shared pipe may still hold bytes: it must not echo them to someone else. */
    close(spare.r);
    close(spare.w);
    spare = make_pipe();
    drop(fd);
    return;
  }
  conns[fd].held = spare;
  conns[fd].left = (size_t)left;
  spare = make_pipe();
  watch(fd, EPOLLOUT);
}

static void on_writable(int fd) {
  struct conn* c = &conns[fd];
  ssize_t left = flush(fd, c->held, c->left);
  if (left < 0) {
    drop(fd);
    return;
  }
  c->left = (size_t)left;
  if (left > 0) return;
  close(c->held.r);
  close(c->held.w);
  watch(fd, EPOLLIN);
}

static void accept_all(int lfd) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) fprintf(stderr, "splice-floor: accept: %s\n", strerror(errno));
      return;
    }
    if ((size_t)fd >= capacity) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN, .data = {.fd = fd}};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) close(fd);
  }
}

static int listen_on(const char* bind_addr, long port, const char* unix_path) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len = sizeof(struct sockaddr_in);
  if (unix_path != NULL) {
    struct sockaddr_un* u = (struct sockaddr_un*)&ss;
    size_t n = strlen(unix_path);
    if (n == 0 || n >= sizeof u->sun_path || strcmp(unix_path, "@") == 0) return -1;
    u->sun_family = AF_UNIX;
    memcpy(u->sun_path, unix_path, n);
    if (unix_path[0] == '@') u->sun_path[0] = '\0';
    else unlink(unix_path);
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (unix_path[0] == '@' ? 0 : 1));
  } else {
    struct sockaddr_in* a = (struct sockaddr_in*)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &a->sin_addr) != 1) return -1;
  }
  int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) fail("socket");
  int one = 1;
  if (unix_path == NULL) setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, (struct sockaddr*)&ss, len) < 0) fail("bind");
  if (listen(lfd, SOMAXCONN) < 0) fail("listen");
  if (unix_path != NULL) {
    printf("listening on unix://%s\n", unix_path);
  } else {
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    if (getsockname(lfd, (struct sockaddr*)&a, &alen) < 0) fail("getsockname");
    printf("listening on %s:%u\n", bind_addr, (unsigned)ntohs(a.sin_port));
  }
  fflush(stdout);
  return lfd;
}

int main(int argc, char** argv) {
  long port = 0;
  const char* bind_addr = "127.0.0.1";
  const char* unix_path = NULL;
  for (int i = 1; i < argc; ++i) {
    char* end = NULL;
    if (strcmp(argv[i], "--help") == 0) {
      puts(
          "usage: echo-splice-floor [--port P] [--bind IPV4] | --unix PATH\n"
          "  floor.c with splice(2) socket -> pipe -> socket instead of recv/send.");
      return 0;
    } else if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
      port = strtol(argv[++i], &end, 10);
      if (*end != '\0' || port < 0 || port > 65535) return 2;
    } else if (i + 1 < argc && strcmp(argv[i], "--bind") == 0) {
      bind_addr = argv[++i];
    } else if (i + 1 < argc && strcmp(argv[i], "--unix") == 0) {
      unix_path = argv[++i];
    } else {
      fprintf(stderr, "usage: echo-splice-floor [--port P] [--bind IPV4] | --unix PATH\n");
      return 2;
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait must return EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN); /* splice into a reset socket raises it */

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  capacity =
      (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) ? (size_t)rl.rlim_cur : 1u << 20;
  conns = calloc(capacity, sizeof *conns);
  if (conns == NULL) fail("calloc");
  spare = make_pipe();
  if (spare.r < 0) fail("pipe2");

  int lfd = listen_on(bind_addr, port, unix_path);
  if (lfd < 0) {
    fprintf(stderr, "splice-floor: bad address\n");
    return 2;
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) fail("epoll_create1");
  struct epoll_event lev = {.events = EPOLLIN, .data = {.fd = lfd}};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0) fail("epoll_ctl");

  struct epoll_event events[max_events];
  while (!stop_requested) {
    int n = epoll_wait(epfd, events, max_events, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == lfd) accept_all(lfd);
      else if (conns[fd].left > 0) on_writable(fd);
      else on_readable(fd);
    }
  }
  if (unix_path != NULL && unix_path[0] != '@') unlink(unix_path);
  return 0;
}
