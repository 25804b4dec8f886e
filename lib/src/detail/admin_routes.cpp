#include "detail/admin_routes.hpp"

#include <string_view>
#include <utility>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "detail/metrics_text.hpp"
#include "echo/version.hpp"

namespace http = boost::beast::http;

namespace echo::detail {
namespace {

constexpr std::string_view plain_text = "text/plain; charset=utf-8";

admin_routes::response make(http::status status, unsigned version, std::string_view content_type,
                            std::string body) {
  admin_routes::response res{status, version};
  res.set(http::field::server, std::string("echo-svc/") + echo::version);
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace

admin_routes::admin_routes(std::function<std::string()> metrics, std::function<bool()> ready)
    : metrics_(std::move(metrics)), ready_(std::move(ready)) {}

admin_routes::response admin_routes::error(http::status status) {
  auto res = make(status, 11, plain_text, std::string(http::obsolete_reason(status)) + "\n");
  res.keep_alive(false);
  return res;
}

admin_routes::response admin_routes::respond(const request& req) const {
  std::string_view path(req.target().data(), req.target().size());
  if (const auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);

  const bool known = path == "/metrics" || path == "/healthz" || path == "/readyz";
  const bool head = req.method() == http::verb::head;
  response res;
  if (!known) {
    res = make(http::status::not_found, req.version(), plain_text, "not found\n");
  } else if (req.method() != http::verb::get && !head) {
    res = make(http::status::method_not_allowed, req.version(), plain_text, "method not allowed\n");
    res.set(http::field::allow, "GET, HEAD");
  } else if (path == "/metrics") {
    res = make(http::status::ok, req.version(), metrics_text::content_type, metrics_());
  } else if (path == "/healthz") {
    res = make(http::status::ok, req.version(), plain_text, "ok\n");
  } else if (ready_()) {
    res = make(http::status::ok, req.version(), plain_text, "ready\n");
  } else {
    res = make(http::status::service_unavailable, req.version(), plain_text, "not ready\n");
  }
  if (head) {
    // The same header as GET, Content-Length included, and no body.
    const auto length = res.body().size();
    res.body().clear();
    res.content_length(length);
  }
  res.keep_alive(req.keep_alive());
  return res;
}

}  // namespace echo::detail
