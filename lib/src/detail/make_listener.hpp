#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <memory>

#include <boost/asio/io_context.hpp>

#include "detail/stream_listener.hpp"
#include "detail/udp_limits.hpp"
#include "echo/listener.hpp"
#include "echo/listener_spec.hpp"

namespace echo::detail {

struct session_context;

/// The server-wide settings listeners take, by kind.
struct listen_options {
  stream_listen_options stream;
  udp_limits udp;
};

/// Builds the listener a spec asks for, bound and listening (or adopting spec.adopt_fd).
/// Throws setup_error naming the address or fd. `use_strands`: several threads run `io`;
/// `options` apply to the sockets it binds.
std::unique_ptr<listener> make_listener(const listener_spec& spec, boost::asio::io_context& io,
                                        std::shared_ptr<session_context> context, bool use_strands,
                                        const listen_options& options);

}  // namespace echo::detail
