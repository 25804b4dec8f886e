#include "detail/admin_session.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "echo/logger.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace echo::detail {
namespace {

// After an answer that ends the connection: how long, and how many bytes, to read and
// discard while waiting for the client's FIN.
constexpr std::chrono::milliseconds linger_time{1000};
constexpr std::size_t linger_bytes = 64 * 1024;
constexpr std::size_t linger_chunk = 4096;

bool is_http_error(const error_code& ec) noexcept {
  return &ec.category() == &http::make_error_code(http::error::bad_version).category();
}

}  // namespace

admin_session::admin_session(asio::ip::tcp::socket socket, std::shared_ptr<const admin_routes> routes,
                             const admin_limits& limits)
    // The header limit bounds the parser; the buffer holds it and a little of what follows
    // (a pipelined request), and no more.
    : stream_(std::move(socket)),
      buffer_(limits.header_limit + 1024),
      routes_(std::move(routes)),
      limits_(limits) {}

void admin_session::start() {
  // Accepted on its own executor (a strand when several threads run): start there.
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void admin_session::stop() {
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_close(); });
}

void admin_session::do_read() {
  if (closed_) return;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(limits_.header_limit));
  // Checked against Content-Length as soon as the header is in, before any body is read.
  parser_->body_limit(limits_.body_limit);
  stream_.expires_after(limits_.request_timeout);
  http::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&admin_session::on_read, shared_from_this()));
}

void admin_session::answer_read_error(const error_code& ec) {
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    response_ = admin_routes::error(http::status::request_header_fields_too_large);
    do_write(true);
    return;
  }
  if (ec == http::error::body_limit) {
    response_ = admin_routes::error(http::status::payload_too_large);
    do_write(true);
    return;
  }
  if (is_http_error(ec) && ec != http::error::end_of_stream && ec != http::error::partial_message) {
    response_ = admin_routes::error(http::status::bad_request);  // malformed
    do_write(true);
    return;
  }
  // The client closed between requests (end_of_stream), went away mid-request, or did not
  // finish in time: nobody to answer.
  if (ec != http::error::end_of_stream)
    log_event(log_level::debug, "admin_close", "admin connection ended",
              {{"step", "read"}, {"error", ec.message()}});
  do_close();
}

void admin_session::on_read(const error_code& ec, std::size_t) {
  if (closed_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    answer_read_error(ec);
    return;
  }
  if (!parser_->is_done()) {
    if (routes_->takes_body(parser_->get())) {
      do_read_body();
      return;
    }
    // A Content-Length above 0 or a chunked body on a route that takes none.
    response_ = admin_routes::error(http::status::payload_too_large);
    do_write(true);
    return;
  }
  on_read_body({}, 0);
}

void admin_session::do_read_body() {
  // Still within the request's deadline, armed when its header began.
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&admin_session::on_read_body, shared_from_this()));
}

void admin_session::on_read_body(const error_code& ec, std::size_t) {
  if (closed_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    answer_read_error(ec);
    return;
  }
  response_ = routes_->respond(parser_->get());
  if (++served_ >= limits_.max_requests) response_.keep_alive(false);
  do_write(!response_.keep_alive());
}

void admin_session::do_write(bool close_after) {
  http::async_write(stream_, response_,
                    beast::bind_front_handler(&admin_session::on_write, shared_from_this(), close_after));
}

void admin_session::on_write(bool close_after, const error_code& ec, std::size_t) {
  if (closed_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    log_event(log_level::debug, "admin_close", "admin connection ended",
              {{"step", "write"}, {"error", ec.message()}});
    do_close();
    return;
  }
  if (!close_after) {
    do_read();
    return;
  }
  error_code ignored;
  stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  stream_.expires_after(std::min(limits_.request_timeout, linger_time));
  do_linger();
}

void admin_session::do_linger() {
  buffer_.clear();
  stream_.async_read_some(buffer_.prepare(linger_chunk),
                          beast::bind_front_handler(&admin_session::on_linger, shared_from_this()));
}

void admin_session::on_linger(const error_code& ec, std::size_t n) {
  if (closed_ || ec == asio::error::operation_aborted) return;
  discarded_ += n;
  if (!ec && discarded_ < linger_bytes) {
    do_linger();
    return;
  }
  do_close();
}

void admin_session::do_close() {
  if (closed_) return;
  closed_ = true;
  stream_.close();
}

}  // namespace echo::detail
