#include "detail/admin_routes.hpp"

#include <algorithm>
#include <array>
#include <cctype>
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
constexpr std::string_view json_type = "application/json";

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

// Compares in time that depends only on the length of `given`, never on how much of the
// token it matches: a remote client cannot find the token byte by byte.
bool same_secret(std::string_view given, std::string_view secret) noexcept {
  if (secret.empty()) return false;
  unsigned diff = given.size() == secret.size() ? 0U : 1U;
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned>(static_cast<unsigned char>(given[i]) ^
                                  static_cast<unsigned char>(secret[i % secret.size()]));
  return diff == 0;
}

// The credentials of "Authorization: Bearer <token>" (scheme case-insensitive), or empty.
std::string_view bearer_token(std::string_view value) {
  constexpr std::string_view scheme = "bearer";
  if (value.size() <= scheme.size()) return {};
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(value[i])) != scheme[i]) return {};
  value.remove_prefix(scheme.size());
  if (value.front() != ' ') return {};
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return value;
}

// Each path, the methods it takes (Allow), and whether those change something.
struct route_info {
  std::string_view path;
  std::string_view allow;
  bool changes;
};

constexpr std::array<route_info, 8> routes{{
    {"/metrics", "GET, HEAD", false},
    {"/healthz", "GET, HEAD", false},
    {"/readyz", "GET, HEAD", false},
    {"/connections", "GET, HEAD", false},
    {"/faults", "GET, HEAD, PUT", false},
    {"/readyz/fail", "POST", true},
    {"/readyz/ok", "POST", true},
    {"/faults/reset", "POST", true},
}};

std::string_view path_of(const admin_routes::request& req) {
  std::string_view path(req.target().data(), req.target().size());
  if (const auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  return path;
}

}  // namespace

admin_routes::admin_routes(std::function<std::string()> metrics, std::function<bool()> ready)
    : act_{std::move(metrics), std::move(ready), {}, {}, {}, {}, {}} {}

admin_routes::admin_routes(actions act, std::string token) : act_(std::move(act)), token_(std::move(token)) {}

admin_routes::response admin_routes::error(http::status status) {
  auto res = make(status, 11, plain_text, std::string(http::obsolete_reason(status)) + "\n");
  res.keep_alive(false);
  return res;
}

bool admin_routes::takes_body(const request& req) const {
  return req.method() == http::verb::put && path_of(req) == "/faults" && act_.replace_faults;
}

bool admin_routes::authorized(const request& req, response& refusal) const {
  if (token_.empty()) {
    refusal = make(http::status::forbidden, req.version(), plain_text,
                   "forbidden: no admin token is configured (--admin-token), so nothing may be changed\n");
    return false;
  }
  const auto it = req.find(http::field::authorization);
  const auto given = it == req.end() ? std::string_view{}
                                     : bearer_token(std::string_view(it->value().data(), it->value().size()));
  if (!given.empty() && same_secret(given, token_)) return true;
  refusal = make(
      http::status::unauthorized, req.version(), plain_text,
      given.empty() ? "unauthorized: send Authorization: Bearer TOKEN\n" : "unauthorized: wrong token\n");
  refusal.set(http::field::www_authenticate, given.empty()
                                                 ? "Bearer realm=\"echo-svc\""
                                                 : "Bearer realm=\"echo-svc\", error=\"invalid_token\"");
  return false;
}

admin_routes::response admin_routes::route(const request& req, std::string_view path) const {
  const auto v = req.version();
  const auto not_found = [&] { return make(http::status::not_found, v, plain_text, "not found\n"); };
  // A route whose action is missing is not offered at all.
  const bool offered = (path == "/metrics" && act_.metrics) || path == "/healthz" ||
                       (path == "/readyz" && act_.ready) || (path == "/connections" && act_.connections) ||
                       (path == "/faults" && act_.faults) ||
                       ((path == "/readyz/fail" || path == "/readyz/ok") && act_.hold_unready) ||
                       (path == "/faults/reset" && act_.reset_faults);
  const auto info =
      std::find_if(routes.begin(), routes.end(), [&](const route_info& r) { return r.path == path; });
  if (!offered || info == routes.end()) return not_found();

  const auto method = req.method();
  const bool read = method == http::verb::get || method == http::verb::head;
  const bool put_faults = path == "/faults" && method == http::verb::put && act_.replace_faults;
  const bool allowed = info->changes ? method == http::verb::post : read || put_faults;
  if (!allowed) {
    auto res = make(http::status::method_not_allowed, v, plain_text, "method not allowed\n");
    res.set(http::field::allow, path == "/faults" && !act_.replace_faults ? "GET, HEAD" : info->allow);
    return res;
  }
  if (info->changes || put_faults) {
    response refusal;
    if (!authorized(req, refusal)) return refusal;
  }

  if (path == "/metrics") return make(http::status::ok, v, metrics_text::content_type, act_.metrics());
  if (path == "/healthz") return make(http::status::ok, v, plain_text, "ok\n");
  if (path == "/readyz") {
    if (act_.ready()) return make(http::status::ok, v, plain_text, "ready\n");
    return make(http::status::service_unavailable, v, plain_text, "not ready\n");
  }
  if (path == "/readyz/fail" || path == "/readyz/ok") {
    act_.hold_unready(path == "/readyz/fail");
    // What /readyz reports from now on: a drain keeps it failing whatever was asked.
    return make(http::status::ok, v, plain_text, act_.ready() ? "ready\n" : "not ready\n");
  }
  if (path == "/connections") return make(http::status::ok, v, json_type, act_.connections());
  if (path == "/faults/reset") {
    act_.reset_faults();
    return make(http::status::ok, v, json_type, act_.faults());
  }
  if (put_faults) {
    if (auto why = act_.replace_faults(req.body()); !why.empty())
      return make(http::status::bad_request, v, plain_text, std::move(why) + "\n");
    return make(http::status::ok, v, json_type, act_.faults());
  }
  return make(http::status::ok, v, json_type, act_.faults());
}

admin_routes::response admin_routes::respond(const request& req) const {
  auto res = route(req, path_of(req));
  if (req.method() == http::verb::head) {
    // The same header as GET, Content-Length included, and no body.
    const auto length = res.body().size();
    res.body().clear();
    res.content_length(length);
  }
  res.keep_alive(req.keep_alive());
  return res;
}

}  // namespace echo::detail
