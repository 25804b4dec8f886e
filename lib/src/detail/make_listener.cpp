#include "detail/make_listener.hpp"

#include <stdexcept>

#include <boost/asio/ip/address.hpp>
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

// An IP listener on `spec.address`, or, unset, on "[::]" dual-stack, falling back to 0.0.0.0
// on a kernel without IPv6 (ipv6.disable=1): serving IPv4 alone beats serving nothing. One
// rule for every IP kind; `make` builds the listener for one address.
template <class Make>
std::unique_ptr<listener> on_address(const listener_spec& spec, Make make) {
  if (spec.address) return make(*spec.address);
  try {
    return make(asio::ip::address(asio::ip::address_v6::any()));
  } catch (const setup_error& e) {
    if (e.code() != std::errc::address_family_not_supported) throw;
    log_event(log_level::info, "ipv6_unavailable", "IPv6 unavailable: listening on IPv4 only",
              {{"error", e.what()}});
  }
  return make(asio::ip::address(asio::ip::address_v4::any()));
}

std::unique_ptr<listener> make_listener(const listener_spec& spec, asio::io_context& io,
                                        std::shared_ptr<session_context> context, bool use_strands,
                                        const listen_options& all) {
  const auto& options = all.stream;
  if (spec.adopt_fd) return std::make_unique<tcp_listener>(io, *spec.adopt_fd, context, use_strands);
  switch (spec.kind) {
    case transport::tcp:
    case transport::tls:
    case transport::mptcp:
      return on_address(spec, [&](const asio::ip::address& address) {
        return std::make_unique<tcp_listener>(io, tcp::endpoint(address, spec.port), spec, context,
                                              use_strands, options);
      });
    case transport::unix_stream:
      return std::make_unique<unix_listener>(io, unix_endpoint(spec.path), spec, context, use_strands,
                                             options);
    case transport::udp:
      return on_address(spec, [&](const asio::ip::address& address) {
        auto bound = spec;
        bound.address = address;
        return std::make_unique<udp_listener>(io, bound, context, use_strands, all.udp);
      });
  }
  throw std::logic_error("make_listener: unknown transport");
}

}  // namespace echo::detail
