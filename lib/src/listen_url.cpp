#include "echo/listen_url.hpp"

#include <array>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "echo/config_parser.hpp"
#include "echo/endpoint_text.hpp"
#include "echo/usage_error.hpp"

namespace echo {
namespace {

constexpr std::array<std::pair<transport, std::string_view>, 5> schemes{{
    {transport::tcp, "tcp"},
    {transport::udp, "udp"},
    {transport::tls, "tls"},
    {transport::unix_stream, "unix"},
    {transport::mptcp, "mptcp"},
}};
constexpr std::array<std::pair<service_kind, std::string_view>, 3> services{{
    {service_kind::echo, "echo"},
    {service_kind::discard, "discard"},
    {service_kind::chargen, "chargen"},
}};
constexpr std::array<std::pair<proxy_protocol, std::string_view>, 4> proxies{{
    {proxy_protocol::off, "off"},
    {proxy_protocol::v1, "v1"},
    {proxy_protocol::v2, "v2"},
    {proxy_protocol::any, "auto"},
}};

template <class Enum, std::size_t N>
std::optional<Enum> lookup(const std::array<std::pair<Enum, std::string_view>, N>& table,
                           std::string_view text) {
  for (const auto& [value, name] : table)
    if (name == text) return value;
  return std::nullopt;
}

template <class Enum, std::size_t N>
std::string_view name_of(const std::array<std::pair<Enum, std::string_view>, N>& table, Enum value) {
  for (const auto& [v, name] : table)
    if (v == value) return name;
  return "?";
}

// sun_path holds 108 bytes; a path needs its terminating NUL, an abstract name its leading one.
constexpr std::size_t max_unix_path = 107;

class url_reader {
 public:
  explicit url_reader(std::string_view url) : url_(url) {}

  [[noreturn]] void fail(std::string_view why) const {
    throw usage_error(fmt::format("invalid listen URL '{}': {}", url_, why));
  }

  listener_spec read() {
    listener_spec spec;
    auto rest = url_;
    const auto colon = rest.find(':');
    if (colon == std::string_view::npos)
      fail("expected SCHEME://ADDRESS, with SCHEME tcp, udp, tls, unix or mptcp");
    const auto kind = lookup(schemes, rest.substr(0, colon));
    if (!kind)
      fail(fmt::format("unknown scheme '{}': expected tcp, udp, tls, unix or mptcp", rest.substr(0, colon)));
    spec.kind = *kind;
    rest.remove_prefix(colon + 1);
    std::string_view query;
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    if (spec.kind == transport::unix_stream) read_unix(spec, rest);
    else read_inet(spec, rest);
    read_query(spec, query);
    return spec;
  }

 private:
  void read_unix(listener_spec& spec, std::string_view rest) {
    // unix:///abs, unix:@name, unix:relative; "unix://@name" is accepted too, as listener
    // names print it.
    if (rest.substr(0, 2) == "//") {
      rest.remove_prefix(2);
      if (rest.empty() || (rest.front() != '/' && rest.front() != '@'))
        fail("expected unix:///absolute/path, unix:relative/path or unix:@name");
    }
    if (rest.empty() || rest == "@") fail("the socket path or name is empty");
    if (rest.size() > max_unix_path)
      fail(fmt::format("the socket path is {} bytes; at most {} fit in a Unix socket address", rest.size(),
                       max_unix_path));
    if (rest.find('\0') != std::string_view::npos) fail("the socket path contains a NUL byte");
    spec.path = std::string(rest);
    spec.address.reset();
    spec.port = 0;
  }

  void read_inet(listener_spec& spec, std::string_view rest) {
    if (rest.substr(0, 2) != "//") fail("expected SCHEME://HOST:PORT");
    rest.remove_prefix(2);
    if (rest.find('/') != std::string_view::npos) fail("a path is not allowed after HOST:PORT");
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos)
      fail("the port is missing: expected HOST:PORT, e.g. 127.0.0.1:7007 or [::]:0");
    const auto host = rest.substr(0, colon);
    if (host.find(':') != std::string_view::npos && (host.front() != '[' || host.back() != ']'))
      fail("an IPv6 address must be in brackets, e.g. [::1]:7007");
    try {
      spec.port = parse_port(rest.substr(colon + 1));
    } catch (const usage_error&) {
      fail(fmt::format("invalid port '{}': expected 0 to 65535", rest.substr(colon + 1)));
    }
    if (host.empty()) {
      spec.address.reset();
      return;
    }
    try {
      spec.address = parse_address(host);
    } catch (const usage_error&) {
      fail(fmt::format("invalid host '{}': expected a numeric IPv4 address or a bracketed IPv6 one", host));
    }
  }

  void read_query(listener_spec& spec, std::string_view query) {
    bool seen_service = false, seen_proxy = false, seen_v6only = false, seen_mode = false;
    const auto once = [&](bool& seen, std::string_view key) {
      if (seen) fail(fmt::format("option '{}' given twice", key));
      seen = true;
    };
    while (!query.empty()) {
      const auto amp = query.find('&');
      const auto item = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
      const auto eq = item.find('=');
      if (eq == std::string_view::npos)
        fail(fmt::format("option '{}' has no value: expected key=value", item));
      const auto key = item.substr(0, eq);
      const auto value = item.substr(eq + 1);
      if (key == "service") {
        once(seen_service, key);
        const auto s = lookup(services, value);
        if (!s) fail(fmt::format("invalid service '{}': expected echo, discard or chargen", value));
        spec.service = *s;
      } else if (key == "proxy-protocol") {
        once(seen_proxy, key);
        const auto p = lookup(proxies, value);
        if (!p) fail(fmt::format("invalid proxy-protocol '{}': expected off, v1, v2 or auto", value));
        if (spec.kind == transport::udp && *p != proxy_protocol::off)
          fail("proxy-protocol applies to stream listeners, not udp");
        spec.proxy = *p;
      } else if (key == "v6only") {
        once(seen_v6only, key);
        if (spec.kind == transport::unix_stream) fail("v6only applies to IPv6 listeners, not unix");
        try {
          spec.v6only = parse_bool(value);
        } catch (const usage_error&) {
          fail(fmt::format("invalid v6only '{}': expected true or false", value));
        }
        if (spec.address && spec.address->is_v4()) fail("v6only applies to IPv6 addresses, not IPv4");
      } else if (key == "mode") {
        once(seen_mode, key);
        if (spec.kind != transport::unix_stream || spec.path.front() == '@')
          fail("mode applies to unix socket paths only");
        try {
          spec.mode = parse_mode(value);
        } catch (const usage_error&) {
          fail(fmt::format("invalid mode '{}': expected octal permission bits, e.g. 0660", value));
        }
      } else {
        fail(fmt::format("unknown option '{}': expected service, proxy-protocol, v6only or mode", key));
      }
    }
  }

  std::string_view url_;
};

}  // namespace

listener_spec parse_listen_url(std::string_view url) { return url_reader(url).read(); }

std::string format_listen_url(const listener_spec& spec) {
  std::string out;
  if (spec.kind == transport::unix_stream) {
    out = spec.path.front() == '/' ? fmt::format("unix://{}", spec.path) : fmt::format("unix:{}", spec.path);
  } else {
    const std::string host = spec.address ? address_text(*spec.address) : std::string();
    out = fmt::format("{}://{}:{}", to_string(spec.kind), host, spec.port);
  }
  char sep = '?';
  const auto option = [&](std::string_view key, std::string_view value) {
    out += fmt::format("{}{}={}", sep, key, value);
    sep = '&';
  };
  if (spec.service != service_kind::echo) option("service", to_string(spec.service));
  if (spec.proxy != proxy_protocol::off) option("proxy-protocol", to_string(spec.proxy));
  if (spec.v6only) option("v6only", *spec.v6only ? "true" : "false");
  if (spec.mode) option("mode", fmt::format("{:04o}", *spec.mode));
  return out;
}

std::string_view to_string(transport kind) noexcept { return name_of(schemes, kind); }
std::string_view to_string(service_kind service) noexcept { return name_of(services, service); }
std::string_view to_string(proxy_protocol proxy) noexcept { return name_of(proxies, proxy); }

}  // namespace echo
