#include "detail/make_listener.hpp"

#include <boost/asio/ip/tcp.hpp>

#include "detail/tcp_listener.hpp"
#include "echo/logger.hpp"
#include "echo/setup_error.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;

namespace echo::detail {

std::unique_ptr<listener> make_listener(const listener_spec& spec, asio::io_context& io,
                                        std::shared_ptr<session_context> context, bool use_strands,
                                        int backlog, bool reuse_port) {
  if (spec.adopt_fd) return std::make_unique<tcp_listener>(io, *spec.adopt_fd, context, use_strands);
  if (spec.address)
    return std::make_unique<tcp_listener>(io, tcp::endpoint(*spec.address, spec.port), context, use_strands,
                                          backlog, reuse_port);
  try {
    return std::make_unique<tcp_listener>(io, tcp::endpoint(tcp::v6(), spec.port), context, use_strands,
                                          backlog, reuse_port);
  } catch (const setup_error& e) {
    // A kernel without IPv6 (ipv6.disable=1): serve IPv4 alone rather than nothing.
    if (e.code() != std::errc::address_family_not_supported) throw;
    log_event(log_level::info, "ipv6_unavailable", "IPv6 unavailable: listening on IPv4 only",
              {{"error", e.what()}});
  }
  return std::make_unique<tcp_listener>(io, tcp::endpoint(tcp::v4(), spec.port), context, use_strands,
                                        backlog, reuse_port);
}

}  // namespace echo::detail
