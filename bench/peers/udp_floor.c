/* udp-floor: the cheapest correct UDP echo server, the yardstick for UDP cells.
 *
 * One blocking recvfrom and one sendto per datagram, single-threaded, nothing
 * else: what a datagram echo costs the kernel. It echoes each datagram whole, to
 * whoever sent it; a datagram the kernel will not take back (ENOBUFS, EAGAIN) is
 * dropped, which a datagram service may do and echo-bench counts as lost.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The largest UDP payload over IPv4: every datagram fits, none is truncated. */
enum { max_datagram = 65535 };

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void die(const char* what) {
  fprintf(stderr, "udp-floor: %s: %s\n", what, strerror(errno));
  exit(1);
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
      "usage: echo-udp-floor [--port P] [--bind IPV4]\n"
      "  Minimal blocking UDP echo server (benchmark floor). --port 0 picks a free port;\n"
      "  prints 'listening on ADDR:PORT' once bound, exits 0 on SIGTERM/SIGINT.\n",
      out);
}

int main(int argc, char** argv) {
  long port = 0;
  const char* bind_addr = "127.0.0.1";
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    }
    if (i + 1 < argc && strcmp(argv[i], "--port") == 0) {
      port = parse_port(argv[++i]);
      if (port < 0) {
        fprintf(stderr, "echo-udp-floor: bad --port '%s'\n", argv[i]);
        return 2;
      }
    } else if (i + 1 < argc && strcmp(argv[i], "--bind") == 0) {
      bind_addr = argv[++i];
    } else {
      usage(stderr);
      return 2;
    }
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: recvfrom must return EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
    fprintf(stderr, "echo-udp-floor: bad --bind '%s' (IPv4 literal expected)\n", bind_addr);
    return 2;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  if (bind(fd, (struct sockaddr*)&addr, sizeof addr) < 0) die("bind");
  socklen_t alen = sizeof addr;
  if (getsockname(fd, (struct sockaddr*)&addr, &alen) < 0) die("getsockname");

  printf("listening on %s:%u\n", bind_addr, (unsigned)ntohs(addr.sin_port));
  fflush(stdout);

  static char buf[max_datagram];
  while (!stop_requested) {
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr*)&peer, &plen);
    if (n < 0) {
      /* ECONNREFUSED and the like are a previous peer's ICMP errors: not ours to stop on. */
      if (errno == EINTR || errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH) continue;
      die("recvfrom");
    }
    if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr*)&peer, plen) < 0 && errno != EINTR &&
        errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
      die("sendto");
  }
  return 0;
}
