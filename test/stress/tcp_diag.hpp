#pragma once

#include <cstdint>
#include <map>

namespace echo::stress {

/// One TCP socket as the kernel sees it (sock_diag): how far its owner has read and written.
struct tcp_socket_state {
  std::uint32_t inode = 0;   ///< tells a socket from an earlier one that had the same ports
  std::uint64_t read = 0;    ///< bytes the owning process has read (received minus Recv-Q)
  std::uint64_t send_q = 0;  ///< bytes written by the owner and not yet acknowledged
};

/// Every established IPv4 TCP socket whose local port is `local_port`, keyed by the peer's
/// port: one netlink dump, no helper process. Empty if the dump fails; a socket whose
/// tcp_info lacks the received-bytes counter is left out.
std::map<std::uint16_t, tcp_socket_state> tcp_sockets(std::uint16_t local_port);

}  // namespace echo::stress
