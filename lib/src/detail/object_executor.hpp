#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>

namespace echo::detail {

/// The executor for an object with its own serialised state (listener, server, signal set):
/// a fresh strand when several threads run `io`, the plain io_context executor when one
/// does, so a single-threaded process pays for no strand.
boost::asio::any_io_executor object_executor(boost::asio::io_context& io, bool multi_threaded);

}  // namespace echo::detail
