#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <functional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

namespace echo::detail {

/// What the admin listener answers, without any socket. Read-only routes, open to anyone:
/// GET and HEAD on /metrics, /healthz, /readyz, /connections and /faults. Routes that change
/// something need `Authorization: Bearer TOKEN`: POST /readyz/fail and /readyz/ok, PUT
/// /faults (a JSON body) and POST /faults/reset; without the right token they get 401, and
/// 403 when no token is configured at all, so they are never open. A route whose action is
/// not given answers 404, as an unknown path does; a known path with another method gets 405
/// with Allow. A query string is ignored. Every action runs on an admin session's executor,
/// so it must be safe to call from any io_context thread.
class admin_routes {
 public:
  using request = boost::beast::http::request<boost::beast::http::string_body>;
  using response = boost::beast::http::response<boost::beast::http::string_body>;

  /// What the routes call; an empty function leaves its routes out.
  struct actions {
    std::function<std::string()> metrics;      ///< /metrics: the exposition text
    std::function<bool()> ready;               ///< /readyz: ready or not
    std::function<void(bool)> hold_unready;    ///< /readyz/fail (true), /readyz/ok (false)
    std::function<std::string()> connections;  ///< /connections: JSON
    std::function<std::string()> faults;       ///< GET /faults: JSON
    /// PUT /faults with the body: empty on success, else why the body was refused.
    std::function<std::string(std::string_view)> replace_faults;
    std::function<void()> reset_faults;  ///< POST /faults/reset
  };

  /// `metrics`: the exposition text for /metrics; `ready`: what /readyz reports.
  admin_routes(std::function<std::string()> metrics, std::function<bool()> ready);
  /// Every route `act` gives; `token` is the bearer token that changes need (empty: none
  /// configured, so changes are refused).
  admin_routes(actions act, std::string token);

  /// Whether the request whose header is `req` may have a body (PUT /faults); any other
  /// request that comes with one is refused before its body is read.
  bool takes_body(const request& req) const;

  /// The answer to a complete request. Keep-alive follows the request.
  response respond(const request& req) const;

  /// An answer that ends the connection (400, 413, 431 ...) for a request that could not be
  /// read in full, so there is no request to take the version from.
  static response error(boost::beast::http::status status);

 private:
  response route(const request& req, std::string_view path) const;
  /// Empty when `req` carries the token; otherwise the refusal (401 or 403).
  bool authorized(const request& req, response& refusal) const;

  actions act_;
  std::string token_;
};

}  // namespace echo::detail
