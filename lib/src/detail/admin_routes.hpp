#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <functional>
#include <string>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

namespace echo::detail {

/// What the admin listener answers, without any socket: GET and HEAD on /metrics, /healthz
/// and /readyz; 405 with Allow for other methods on those paths, 404 for other paths. A
/// query string is ignored. Both callbacks run on an admin session's executor, so they must
/// be safe to call from any io_context thread.
class admin_routes {
 public:
  using request = boost::beast::http::request<boost::beast::http::empty_body>;
  using response = boost::beast::http::response<boost::beast::http::string_body>;

  /// `metrics`: the exposition text for /metrics; `ready`: what /readyz reports.
  admin_routes(std::function<std::string()> metrics, std::function<bool()> ready);

  /// The answer to a complete request that has no body. Keep-alive follows the request.
  response respond(const request& req) const;

  /// An answer that ends the connection (400, 413, 431 ...) for a request that could not be
  /// read in full, so there is no request to take the version from.
  static response error(boost::beast::http::status status);

 private:
  std::function<std::string()> metrics_;
  std::function<bool()> ready_;
};

}  // namespace echo::detail
