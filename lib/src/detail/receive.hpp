#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace echo::detail {

/// One non-blocking recvmsg(2) into `buffer`, retried on EINTR, asking for TCP_INQ.
struct receive_result {
  long n = 0;       ///< bytes read; 0 at end of stream; -1 on error (see `error`)
  int error = 0;    ///< errno when n < 0 (EAGAIN: nothing to read)
  int queued = -1;  ///< bytes (or a FIN, counted as 1) still queued after it; -1 unknown
};

inline receive_result receive_some(int fd, std::byte* buffer, std::uint32_t size) noexcept {
  receive_result r;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  iovec iov{buffer, size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  for (;;) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    r.n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
    if (r.n >= 0 || errno != EINTR) break;
  }
  if (r.n < 0) {
    r.error = errno;
    return r;
  }
  // The control buffer has room for one int: TCP_INQ's count on TCP; on a Unix socket a
  // peer could put a descriptor there (SCM_RIGHTS), which the kernel would install in our
  // table. Close it: a peer must not be able to spend our descriptors.
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
#ifdef TCP_CM_INQ
    if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ) {
      std::memcpy(&r.queued, CMSG_DATA(c), sizeof r.queued);
      continue;
    }
#endif
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const auto count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int passed = -1;
        std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
        ::close(passed);
      }
    }
  }
  return r;
}

/// How a read op gets its bytes by default: one receive_some on the socket. A stream that
/// must transform what it reads (TLS) supplies its own receiver with the same result, so
/// it keeps the read op's waiting, buffering and readiness rules.
struct socket_receiver {
  template <class Owner>
  static receive_result receive(Owner&, int fd, std::byte* buffer, std::uint32_t size) noexcept {
    return receive_some(fd, buffer, size);
  }
};

/// Whether the next receive needs a pool buffer. A receiver that can take the bytes
/// somewhere else (a pipe) has `prepare(owner)`, called just before receive, which returns
/// false when it did; receive then gets a null buffer.
template <class Receiver, class Owner>
bool wants_buffer(Owner& owner) noexcept {
  if constexpr (requires { Receiver::prepare(owner); }) return Receiver::prepare(owner);
  else return true;
}

}  // namespace echo::detail
