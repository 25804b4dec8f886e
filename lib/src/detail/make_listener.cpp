#include "detail/make_listener.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <fmt/format.h>
#include "detail/stream_listener.hpp"
#include "detail/udp_listener.hpp"

#include "echo/listen_url.hpp"
#include "echo/logger.hpp"
#include "echo/setup_error.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;

namespace echo::detail {
namespace {

asio::local::stream_protocol::endpoint unix_endpoint(const std::string& path) {
  // Linux's abstract namespace: the name follows a NUL instead of living in the filesystem.
  if (path.empty() || path.front() != '@') return {path};
  // Built in place: g++ 12 at -O3 warns (falsely) about the operator+ spelling of this.
  std::string name = path;
  name.front() = '\0';
  return {name};
}

}  // namespace

std::unique_ptr<listener> make_listener(const listener_spec& spec, asio::io_context& io,
                                        std::shared_ptr<session_context> context, bool use_strands,
                                        const listen_options& all) {
  const auto& options = all.stream;
  if (spec.adopt_fd) return std::make_unique<tcp_listener>(io, *spec.adopt_fd, context, use_strands);
  switch (spec.kind) {
    case transport::tcp:
    case transport::tls:
    case transport::mptcp: break;
    case transport::unix_stream:
      return std::make_unique<unix_listener>(io, unix_endpoint(spec.path), spec, context, use_strands,
                                             options);
    case transport::udp: return std::make_unique<udp_listener>(io, spec, context, use_strands, all.udp);
  }
  if (spec.address)
    return std::make_unique<tcp_listener>(io, tcp::endpoint(*spec.address, spec.port), spec, context,
                                          use_strands, options);
  try {
    return std::make_unique<tcp_listener>(io, tcp::endpoint(tcp::v6(), spec.port), spec, context, use_strands,
                                          options);
  } catch (const setup_error& e) {
    // A kernel without IPv6 (ipv6.disable=1): serve IPv4 alone rather than nothing.
    if (e.code() != std::errc::address_family_not_supported) throw;
    log_event(log_level::info, "ipv6_unavailable", "IPv6 unavailable: listening on IPv4 only",
              {{"error", e.what()}});
  }
  return std::make_unique<tcp_listener>(io, tcp::endpoint(tcp::v4(), spec.port), spec, context, use_strands,
                                        options);
}

}  // namespace echo::detail
