#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstddef>
#include <memory>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "detail/admin_limits.hpp"
#include "detail/admin_routes.hpp"

namespace echo::detail {

/// One admin HTTP/1.1 connection (Beast's advanced server session, minus the bodies):
///
///   start -> do_read -> on_read -> do_write -> on_write -> do_read ...   (keep-alive)
///                                            \-> do_linger -> on_linger -> close
///
/// Every request is read with a header size limit and a deadline (which also bounds the
/// idle wait between keep-alive requests), a connection serves at most max_requests, and a
/// request with a body is refused unless its route takes one (PUT /faults), whose body is
/// then read within body_limit and the same deadline. Errors that end the
/// connection after an answer (400, 413, 431) send it, then our FIN, then read and discard
/// briefly so that the client's unread bytes do not turn our close into an RST that could
/// destroy the answer before the client reads it.
class admin_session : public std::enable_shared_from_this<admin_session> {
 public:
  admin_session(boost::asio::ip::tcp::socket socket, std::shared_ptr<const admin_routes> routes,
                const admin_limits& limits);

  /// Begins reading the first request.
  void start();
  /// Closes the connection now (thread-safe); pending operations are aborted.
  void stop();

 private:
  using parser_type = boost::beast::http::request_parser<boost::beast::http::string_body>;

  void do_read();
  void on_read(const boost::system::error_code& ec, std::size_t n);
  void do_read_body();
  void on_read_body(const boost::system::error_code& ec, std::size_t n);
  /// Answers a read error that left a client to answer (400, 413, 431), else closes.
  void answer_read_error(const boost::system::error_code& ec);
  void do_write(bool close_after);
  void on_write(bool close_after, const boost::system::error_code& ec, std::size_t n);
  void do_linger();
  void on_linger(const boost::system::error_code& ec, std::size_t n);
  void do_close();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<parser_type> parser_;
  admin_routes::response response_;
  std::shared_ptr<const admin_routes> routes_;
  const admin_limits limits_;
  unsigned served_ = 0;
  std::size_t discarded_ = 0;
  bool closed_ = false;
};

}  // namespace echo::detail
