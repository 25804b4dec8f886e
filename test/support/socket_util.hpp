#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace echo::test {

/// Fills `addr` for a numeric host ("127.0.0.1", "::1"); returns its length.
socklen_t make_sockaddr(const std::string& host, std::uint16_t port, sockaddr_storage& addr);

/// A non-blocking TCP socket (TCP_NODELAY, optional buffer sizes) with connect() started;
/// -errno on failure.
[[nodiscard]] int connect_nonblocking(const std::string& host, std::uint16_t port, int rcvbuf = 0,
                                      int sndbuf = 0);

/// A non-blocking Unix stream socket with connect() done or started ("@name": Linux's
/// abstract namespace). Throws on any failure but EINPROGRESS/EAGAIN (a full backlog).
[[nodiscard]] int connect_unix(const std::string& path);

/// A poll() timeout: milliseconds left until `deadline`, rounded up so poll does not return
/// just before it, at most `cap_ms`; 0 once it has passed.
int poll_timeout_ms(std::chrono::steady_clock::time_point deadline, int cap_ms);

}  // namespace echo::test
