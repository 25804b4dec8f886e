#include "tcp_diag.hpp"

// linux/tcp.h, not netinet/tcp.h: glibc's tcp_info stops before tcpi_bytes_received, and
// the two headers cannot be included together.
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

#include "unique_fd.hpp"

namespace echo::stress {

std::map<std::uint16_t, tcp_socket_state> tcp_sockets(std::uint16_t local_port) {
  std::map<std::uint16_t, tcp_socket_state> out;
  const echo::test::unique_fd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd) return {};
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } query{};
  query.header.nlmsg_len = sizeof query;
  query.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  query.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  query.request.sdiag_family = AF_INET;
  query.request.sdiag_protocol = IPPROTO_TCP;
  query.request.idiag_states = 1U << 1;  // TCP_ESTABLISHED
  query.request.idiag_ext = 1U << (INET_DIAG_INFO - 1);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd.get(), &query, sizeof query, 0, reinterpret_cast<const sockaddr*>(&kernel),
               sizeof kernel) != static_cast<ssize_t>(sizeof query))
    return {};
  // Where tcpi_bytes_received ends: a kernel that reports less has no such field.
  constexpr std::size_t bytes_received_end = offsetof(tcp_info, tcpi_bytes_received) + sizeof(std::uint64_t);
  std::vector<char> buf(64 * 1024);  // fields are copied out: no alignment needed
  for (;;) {
    const ssize_t got = ::recv(fd.get(), buf.data(), buf.size(), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return {};
    std::size_t left = static_cast<std::size_t>(got);
    for (const char* p = buf.data(); left >= sizeof(nlmsghdr);) {
      nlmsghdr h;
      std::memcpy(&h, p, sizeof h);
      if (h.nlmsg_len < sizeof h || h.nlmsg_len > left) return {};
      if (h.nlmsg_type == NLMSG_DONE) return out;
      if (h.nlmsg_type == NLMSG_ERROR) return {};
      if (h.nlmsg_len >= NLMSG_LENGTH(sizeof(inet_diag_msg))) {
        inet_diag_msg d;
        std::memcpy(&d, p + NLMSG_HDRLEN, sizeof d);
        if (ntohs(d.id.idiag_sport) == local_port) {
          tcp_socket_state s;
          bool have_info = false;
          s.inode = d.idiag_inode;
          s.send_q = d.idiag_wqueue;
          // Attributes follow the message; INET_DIAG_INFO carries tcp_info.
          std::size_t at = NLMSG_LENGTH(NLMSG_ALIGN(sizeof d));
          while (at + sizeof(rtattr) <= h.nlmsg_len) {
            rtattr a;
            std::memcpy(&a, p + at, sizeof a);
            if (a.rta_len < sizeof a || at + a.rta_len > h.nlmsg_len) break;
            if (a.rta_type == INET_DIAG_INFO && a.rta_len - RTA_LENGTH(0) >= bytes_received_end) {
              std::uint64_t received = 0;
              std::memcpy(&received, p + at + RTA_LENGTH(0) + offsetof(tcp_info, tcpi_bytes_received),
                          sizeof received);
              s.read = received - d.idiag_rqueue;
              have_info = true;
            }
            at += RTA_ALIGN(a.rta_len);
          }
          if (have_info) out[ntohs(d.id.idiag_dport)] = s;
        }
      }
      const std::size_t step = NLMSG_ALIGN(h.nlmsg_len);
      if (step >= left) break;
      p += step;
      left -= step;
    }
  }
}

}  // namespace echo::stress
