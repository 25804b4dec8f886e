#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace echo::test {

/// Fills `addr` for a numeric host ("127.0.0.1", "::1"); returns its length.
socklen_t make_sockaddr(const std::string& host, std::uint16_t port, sockaddr_storage& addr);

}  // namespace echo::test
