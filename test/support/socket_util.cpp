#include "socket_util.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>

#include "unique_fd.hpp"

namespace echo::test {

socklen_t make_sockaddr(const std::string& host, std::uint16_t port, sockaddr_storage& addr) {
  std::memset(&addr, 0, sizeof addr);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return sizeof(sockaddr_in);
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return sizeof(sockaddr_in6);
  }
  throw std::invalid_argument("not a numeric address: " + host);
}

int connect_nonblocking(const std::string& host, std::uint16_t port, int rcvbuf, int sndbuf) {
  sockaddr_storage addr{};
  const socklen_t len = make_sockaddr(host, port, addr);
  unique_fd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return -errno;
  // A buffer size that did not take would quietly change what the caller's test measures.
  const auto set = [&fd](int level, int name, int value) {
    return ::setsockopt(fd.get(), level, name, &value, sizeof value) == 0;
  };
  if (!set(IPPROTO_TCP, TCP_NODELAY, 1)) return -errno;
  if (rcvbuf > 0 && !set(SOL_SOCKET, SO_RCVBUF, rcvbuf)) return -errno;
  if (sndbuf > 0 && !set(SOL_SOCKET, SO_SNDBUF, sndbuf)) return -errno;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0 && errno != EINPROGRESS)
    return -errno;
  return fd.release();
}

int connect_unix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket(AF_UNIX) failed");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path.front() == '@') addr.sun_path[0] = '\0';
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 && errno != EINPROGRESS &&
      errno != EAGAIN) {
    const int e = errno;
    ::close(fd);
    throw std::runtime_error(std::string("connect to ") + path + ": " + std::strerror(e));
  }
  return fd;
}

int poll_timeout_ms(std::chrono::steady_clock::time_point deadline, int cap_ms) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<long long>(left.count() + 1, cap_ms));
}

}  // namespace echo::test
