#include "echo/config_parser.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include "echo/config_error.hpp"
#include "echo/endpoint_text.hpp"
#include "echo/fault_spec.hpp"
#include "echo/listen_url.hpp"
#include "echo/logger.hpp"
#include "echo/usage_error.hpp"
#include "echo/version.hpp"

namespace po = boost::program_options;

namespace echo {
namespace {

// Values are taken as strings and converted here: program_options' own lexical_cast
// happily turns "-1" into 4294967295 for an unsigned.
std::optional<unsigned long long> parse_decimal(std::string_view text) noexcept {
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  unsigned long long value = 0;
  const auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || p != end) return std::nullopt;
  return value;
}

// Splits "250ms" into ("250", "ms").
std::pair<std::string_view, std::string_view> split_unit(std::string_view text) noexcept {
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  return {text.substr(0, i), text.substr(i)};
}

// Every setting once: its flag, help, how a value applies to the config and how the
// effective value is printed back. The command line, the environment, the file, --help and
// --print-config all read this table, so no source can know a key the others do not.
struct setting {
  const char* name;        // flag without dashes; ECHO_SVC_<NAME> in the environment
  const char* value_name;  // shown in --help; nullptr: a switch (--reuse-port)
  std::function<std::string(const config& defaults)> help;
  std::function<void(config&, std::string_view)> apply;
  // nullopt: unset, printed commented out.
  std::function<std::optional<std::string>(const config&)> show;
  // Given any number of times: the values of one source arrive joined by '\n' (flags and
  // file lines as given, the environment's split at commas) and replace a lower source's.
  bool repeatable = false;
  // What separates the values of a repeatable setting in its one environment variable.
  char env_separator = ',';
};

constexpr char value_separator = '\n';

std::vector<std::string_view> split_values(std::string_view joined) {
  std::vector<std::string_view> out;
  while (true) {
    const auto at = joined.find(value_separator);
    out.push_back(joined.substr(0, at));
    if (at == std::string_view::npos) break;
    joined.remove_prefix(at + 1);
  }
  return out;
}

unsigned long long parse_count(std::string_view text, const char* what) {
  const auto v = parse_decimal(text);
  if (!v) throw usage_error(fmt::format("invalid {} '{}': expected a number", what, text));
  return *v;
}

// A byte count with an optional binary unit, up to 1 TiB: "1048576", "64KiB", "64MiB", "1GiB".
std::uint64_t parse_bytes(std::string_view text) {
  const auto [digits, unit] = split_unit(text);
  const auto v = parse_decimal(digits);
  const auto bad = [&] {
    return usage_error(
        fmt::format("invalid byte rate '{}': expected e.g. 1048576, 64KiB, 64MiB or 1GiB", text));
  };
  std::uint64_t scale = 1;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "KiB" || unit == "K" || unit == "k") scale = 1ULL << 10;
  else if (unit == "MiB" || unit == "M" || unit == "m") scale = 1ULL << 20;
  else if (unit == "GiB" || unit == "G" || unit == "g") scale = 1ULL << 30;
  else throw bad();
  if (!v || *v > (1ULL << 40) / scale) throw bad();
  return *v * scale;
}

std::string format_bytes(std::uint64_t bytes) {
  for (const auto& [shift, unit] : {std::pair{30, "GiB"}, std::pair{20, "MiB"}, std::pair{10, "KiB"}}) {
    const auto scale = 1ULL << shift;
    if (bytes != 0 && bytes % scale == 0) return fmt::format("{}{}", bytes / scale, unit);
  }
  return std::to_string(bytes);
}

std::string_view splice_text(splice_mode mode) noexcept {
  switch (mode) {
    case splice_mode::off: return "off";
    case splice_mode::always: return "always";
    case splice_mode::automatic: break;
  }
  return "auto";
}

const std::vector<setting>& settings() {
  static const std::vector<setting> table = [] {
    std::vector<setting> t;
    // clang-format off
    t.push_back({"port", "P",
      [](const config& d) { return fmt::format("TCP port to listen on, 0-65535; 0 picks a free one (default {})", d.listeners.front().port); },
      [](config& c, std::string_view v) { c.listeners.front().port = parse_port(v); },
      [](const config& c) -> std::optional<std::string> { return std::to_string(c.listeners.front().port); }});
    t.push_back({"bind", "ADDR",
      [](const config&) { return std::string("numeric IPv4 or IPv6 address to listen on (default: [::] dual-stack, or 0.0.0.0 where the kernel has no IPv6)"); },
      [](config& c, std::string_view v) { c.listeners.front().address = parse_address(v); },
      [](const config& c) -> std::optional<std::string> {
        const auto& a = c.listeners.front().address;
        if (!a) return std::nullopt;
        return address_text(*a);
      }});
    t.push_back({"listen", "URL",
      [](const config&) { return std::string("also listen here; repeatable (ECHO_SVC_LISTEN takes a comma-separated list): tcp://HOST:PORT, udp://, tls://, mptcp://, unix:///path, unix:@name, with options as ?service=echo|discard|chargen&proxy-protocol=v1|v2|auto&v6only=true&mode=0660 (see README). With --listen and neither --port nor --bind, only the URLs are served"); },
      [](config& c, std::string_view v) {
        for (const auto url : split_values(v)) c.listeners.push_back(parse_listen_url(url));
      },
      [](const config&) -> std::optional<std::string> { return std::nullopt; },  // print_config lists them
      true});
    t.push_back({"unix-mode", "MODE",
      [](const config&) { return std::string("permission bits of unix socket files, octal, e.g. 0660 (default: as created, under the umask); a listener's ?mode= overrides it"); },
      [](config& c, std::string_view v) { c.unix_mode = parse_mode(v); },
      [](const config& c) -> std::optional<std::string> {
        if (!c.unix_mode) return std::nullopt;
        return fmt::format("{:04o}", *c.unix_mode);
      }});
    t.push_back({"udp-source-rate", "N",
      [](const config& d) { return fmt::format("UDP replies per second to one source address; beyond it datagrams are dropped and counted; 0 = unlimited (default {})", d.udp_source_rate); },
      [](config& c, std::string_view v) {
        const auto n = parse_count(v, "datagram rate");
        if (n > std::numeric_limits<std::uint32_t>::max()) throw usage_error(fmt::format("invalid datagram rate '{}': too large", v));
        c.udp_source_rate = static_cast<std::uint32_t>(n);
      },
      [](const config& c) -> std::optional<std::string> { return std::to_string(c.udp_source_rate); }});
    t.push_back({"udp-source-bytes", "SIZE",
      [](const config& d) { return fmt::format("UDP reply bytes per second to one source address: 1048576, 64MiB, 1GiB; 0 = unlimited (default {})", format_bytes(d.udp_source_bytes)); },
      [](config& c, std::string_view v) { c.udp_source_bytes = parse_bytes(v); },
      [](const config& c) -> std::optional<std::string> { return format_bytes(c.udp_source_bytes); }});
    t.push_back({"udp-receive-buffer", "SIZE",
      [](const config& d) { return fmt::format("receive buffer of each UDP socket, absorbing bursts (SO_RCVBUF, capped by net.core.rmem_max); 0 = the kernel's default (default {})", format_bytes(d.udp_receive_buffer)); },
      [](config& c, std::string_view v) {
        const auto n = parse_bytes(v);
        if (n > static_cast<std::uint64_t>(std::numeric_limits<int>::max() / 2))
          throw usage_error(fmt::format("invalid UDP receive buffer '{}': at most 1GiB", v));
        c.udp_receive_buffer = static_cast<std::uint32_t>(n);
      },
      [](const config& c) -> std::optional<std::string> { return format_bytes(c.udp_receive_buffer); }});
    t.push_back({"tls-cert", "FILE",
      [](const config&) { return std::string("PEM certificate chain for tls:// listeners, leaf first; re-read on SIGHUP"); },
      [](config& c, std::string_view v) { c.tls.cert_file = std::string(v); },
      [](const config& c) -> std::optional<std::string> {
        if (c.tls.cert_file.empty()) return std::nullopt;
        return c.tls.cert_file;
      }});
    t.push_back({"tls-key", "FILE",
      [](const config&) { return std::string("PEM private key of --tls-cert; re-read on SIGHUP"); },
      [](config& c, std::string_view v) { c.tls.key_file = std::string(v); },
      [](const config& c) -> std::optional<std::string> {
        if (c.tls.key_file.empty()) return std::nullopt;
        return c.tls.key_file;
      }});
    t.push_back({"tls-client-ca", "FILE",
      [](const config&) { return std::string("PEM CA bundle: when set, TLS clients must present a certificate it signed (mTLS)"); },
      [](config& c, std::string_view v) { c.tls.client_ca_file = std::string(v); },
      [](const config& c) -> std::optional<std::string> {
        if (c.tls.client_ca_file.empty()) return std::nullopt;
        return c.tls.client_ca_file;
      }});
    t.push_back({"tls-min-version", "VERSION",
      [](const config&) { return std::string("lowest TLS version accepted: 1.2 or 1.3 (default 1.2)"); },
      [](config& c, std::string_view v) {
        if (v == "1.2") c.tls.min_version = tls_settings::version::tls1_2;
        else if (v == "1.3") c.tls.min_version = tls_settings::version::tls1_3;
        else throw usage_error(fmt::format("invalid TLS version '{}': expected 1.2 or 1.3", v));
      },
      [](const config& c) -> std::optional<std::string> {
        return std::string(c.tls.min_version == tls_settings::version::tls1_3 ? "1.3" : "1.2");
      }});
    t.push_back({"tls-alpn", "LIST",
      [](const config&) { return std::string("ALPN protocols to offer, comma-separated in our order of preference, e.g. echo; a client offering none of them is refused (default: no ALPN)"); },
      [](config& c, std::string_view v) {
        c.tls.alpn.clear();
        while (!v.empty()) {
          const auto comma = v.find(',');
          c.tls.alpn.emplace_back(v.substr(0, comma));
          v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
        }
      },
      [](const config& c) -> std::optional<std::string> {
        if (c.tls.alpn.empty()) return std::nullopt;
        std::string out;
        for (const auto& p : c.tls.alpn) out += (out.empty() ? "" : ",") + p;
        return out;
      }});
    t.push_back({"tls-handshake-timeout", "DUR",
      [](const config& d) { return fmt::format("time a TLS client has to finish its handshake (default {})", format_duration(d.tls.handshake_timeout)); },
      [](config& c, std::string_view v) { c.tls.handshake_timeout = parse_duration(v); },
      [](const config& c) -> std::optional<std::string> { return format_duration(c.tls.handshake_timeout); }});
    t.push_back({"threads", "N",
      [](const config& d) { return fmt::format("threads running the event loop, 0-{}; 0 = CPUs this process may use (affinity and cgroup quota) (default {})", config::max_threads, d.threads); },
      [](config& c, std::string_view v) { c.threads = parse_threads(v); },
      [](const config& c) -> std::optional<std::string> { return std::to_string(c.threads); }});
    t.push_back({"log-level", "LEVEL",
      [](const config& d) { return fmt::format("trace, debug, info, warn, error or off (default {})", to_string(d.level)); },
      [](config& c, std::string_view v) {
        const auto level = parse_log_level(v);
        if (!level) throw usage_error(fmt::format("invalid log level '{}': expected trace, debug, info, warn, error or off", v));
        c.level = *level;
      },
      [](const config& c) -> std::optional<std::string> { return std::string(to_string(c.level)); }});
    t.push_back({"log-format", "FORMAT",
      [](const config& d) { return fmt::format("text or json (one JSON object per line) (default {})", to_string(d.format)); },
      [](config& c, std::string_view v) {
        const auto format = parse_log_format(v);
        if (!format) throw usage_error(fmt::format("invalid log format '{}': expected text or json", v));
        c.format = *format;
      },
      [](const config& c) -> std::optional<std::string> { return std::string(to_string(c.format)); }});
    t.push_back({"ready-file", "PATH",
      [](const config&) { return std::string("once every listener listens, also write the ready lines to PATH (a temporary file renamed into place, so a reader sees all or nothing); removed on a clean exit (default: none)"); },
      [](config& c, std::string_view v) {
        if (v.empty()) throw usage_error("invalid ready file '': expected a path");
        c.ready_file = std::string(v);
      },
      [](const config& c) -> std::optional<std::string> {
        if (c.ready_file.empty()) return std::nullopt;
        return c.ready_file;
      }});
    t.push_back({"shutdown-timeout", "DUR",
      [](const config& d) { return fmt::format("on SIGTERM/SIGINT, how long sessions may finish before being closed: 500ms, 5s, 1m; a bare number is seconds (default {})", format_duration(d.shutdown_timeout)); },
      [](config& c, std::string_view v) { c.shutdown_timeout = parse_duration(v); },
      [](const config& c) -> std::optional<std::string> { return format_duration(c.shutdown_timeout); }});
    t.push_back({"shutdown-delay", "DUR",
      [](const config& d) { return fmt::format("on SIGTERM/SIGINT, keep accepting this long with /readyz failing, so load balancers stop sending first; then stop listening and drain (default {})", format_duration(d.shutdown_delay)); },
      [](config& c, std::string_view v) { c.shutdown_delay = parse_duration(v); },
      [](const config& c) -> std::optional<std::string> { return format_duration(c.shutdown_delay); }});
    t.push_back({"max-connections", "N",
      [](const config& d) { return fmt::format("sessions allowed at once; above it new connections are accepted and closed at once; 0 = the soft descriptor limit minus {} (default {})", fd_reserve, d.max_connections); },
      [](config& c, std::string_view v) { c.max_connections = static_cast<std::size_t>(parse_count(v, "connection limit")); },
      [](const config& c) -> std::optional<std::string> { return std::to_string(c.max_connections); }});
    t.push_back({"idle-timeout", "DUR",
      [](const config& d) { return fmt::format("close a session with no progress in either direction for this long; 0 disables (default {})", format_duration(d.idle_timeout)); },
      [](config& c, std::string_view v) { c.idle_timeout = parse_duration(v); },
      [](const config& c) -> std::optional<std::string> { return format_duration(c.idle_timeout); }});
    t.push_back({"write-timeout", "DUR",
      [](const config& d) { return fmt::format("close a session whose echo the peer has not read for this long; 0 disables (default {})", format_duration(d.write_timeout)); },
      [](config& c, std::string_view v) { c.write_timeout = parse_duration(v); },
      [](const config& c) -> std::optional<std::string> { return format_duration(c.write_timeout); }});
    t.push_back({"buffer-size", "SIZE",
      [](const config& d) { return fmt::format("bytes read at a time per session, {} to {}: 16384, 64KiB, 1MiB (default {})", config::min_buffer_size, format_size(config::max_buffer_size), format_size(d.buffer_size)); },
      [](config& c, std::string_view v) { c.buffer_size = parse_size(v); },
      [](const config& c) -> std::optional<std::string> { return format_size(c.buffer_size); }});
    t.push_back({"splice", "MODE",
      [](const config& d) { return fmt::format("auto: a plain TCP or Unix stream session whose reads are large echoes them socket -> pipe -> socket with splice(2), without copying through user space; off: always copy (default {})", splice_text(d.splice)); },
      [](config& c, std::string_view v) {
        // "always" is the test suite's: every session that may splice does, from its first read.
        if (v == "auto") c.splice = splice_mode::automatic;
        else if (v == "off") c.splice = splice_mode::off;
        else if (v == "always") c.splice = splice_mode::always;
        else throw usage_error(fmt::format("invalid splice mode '{}': expected auto or off", v));
      },
      [](const config& c) -> std::optional<std::string> { return std::string(splice_text(c.splice)); }});
    t.push_back({"backlog", "N",
      [](const config& d) { return fmt::format("listen(2) backlog, 1-{}; the kernel caps it at net.core.somaxconn (default {})", config::max_backlog, d.backlog); },
      [](config& c, std::string_view v) {
        const auto n = parse_count(v, "backlog");
        c.backlog = static_cast<int>(std::min<unsigned long long>(n, std::numeric_limits<int>::max()));
      },
      [](const config& c) -> std::optional<std::string> { return std::to_string(c.backlog); }});
    t.push_back({"reuse-port", nullptr,
      [](const config& d) { return fmt::format("set SO_REUSEPORT so several processes share the port; the kernel spreads connections among them (default {})", d.reuse_port); },
      [](config& c, std::string_view v) { c.reuse_port = parse_bool(v); },
      [](const config& c) -> std::optional<std::string> { return std::string(c.reuse_port ? "true" : "false"); }});
    t.push_back({"admin-listen", "ADDR:PORT",
      [](const config&) { return std::string("serve GET /metrics (Prometheus), /healthz, /readyz, /connections and /faults over HTTP here, and with --admin-token the changes (PUT /faults, POST /faults/reset, /readyz/fail, /readyz/ok), e.g. 127.0.0.1:9100, [::1]:9100, :9100 (default: off)"); },
      [](config& c, std::string_view v) { c.admin = parse_endpoint(v); },
      [](const config& c) -> std::optional<std::string> {
        if (!c.admin) return std::nullopt;
        return format_endpoint(*c.admin);
      }});
    t.push_back({"admin-token", "TOKEN",
      [](const config&) { return std::string("bearer token that admin requests changing anything (PUT /faults, POST /readyz/fail ...) must carry as 'Authorization: Bearer TOKEN'; without a token those requests are refused (default: none)"); },
      [](config& c, std::string_view v) { c.admin_token = std::string(v); },
      // Never printed back: --print-config output gets pasted into tickets.
      [](const config&) -> std::optional<std::string> { return std::nullopt; }});
    t.push_back({"admin-token-file", "FILE",
      [](const config&) { return std::string("read the admin token from the first line of FILE at start-up, so it is in neither argv nor the environment (default: none)"); },
      [](config& c, std::string_view v) { c.admin_token_file = std::string(v); },
      [](const config& c) -> std::optional<std::string> {
        if (c.admin_token_file.empty()) return std::nullopt;
        return c.admin_token_file;
      }});
    t.push_back({"connection-history", "N",
      [](const config& d) { return fmt::format("closed connections the admin listener's GET /connections remembers, the latest ones, 0-{}; 0 keeps no records (default {})", config::max_connection_history, d.connection_history); },
      [](config& c, std::string_view v) { c.connection_history = static_cast<std::size_t>(parse_count(v, "connection history")); },
      [](const config& c) -> std::optional<std::string> { return std::to_string(c.connection_history); }});
    t.push_back({"fault", "SPEC",
      [](const config&) { return std::string("inject a fault, NAME[:KEY=VALUE,...]; repeatable (ECHO_SVC_FAULT takes a ';'-separated list): latency:delay=50ms,jitter=5ms, bandwidth:rate=64KiB, slice:size=1-64,delay=1ms, close-after:bytes=N|time=T, reset-after:bytes=N|time=T, stall[:after-bytes=N], blackhole, slow-read:rate=1KiB, slow-close:delay=T, early-fin[:after-bytes=N], hold-close-wait, no-accept, refuse, accept-delay:delay=T, banner:text=..., and with --allow-corruption corrupt:rate=P, garbage-then-close:bytes=N, amplify:factor=K. Every connection fault also takes listener=, probability=, after=, count=, match=CIDR (see README)"); },
      [](config& c, std::string_view v) {
        for (const auto spec : split_values(v)) c.faults.push_back(parse_fault_spec(spec));
      },
      [](const config&) -> std::optional<std::string> { return std::nullopt; },  // print_config lists them
      true, ';'});
    t.push_back({"seed", "S",
      [](const config&) { return std::string("seed for every random choice faults make: the same seed and connection order give the same faults, sizes and offsets (default: drawn at start and logged)"); },
      [](config& c, std::string_view v) {
        const auto n = parse_decimal(v);
        if (!n) throw usage_error(fmt::format("invalid seed '{}': expected a number from 0 to 18446744073709551615", v));
        c.seed = *n;
      },
      [](const config& c) -> std::optional<std::string> {
        if (!c.seed) return std::nullopt;
        return std::to_string(*c.seed);
      }});
    t.push_back({"allow-corruption", nullptr,
      [](const config& d) { return fmt::format("allow the integrity faults corrupt, garbage-then-close and amplify, which break the echo's bytes (default {})", d.allow_corruption); },
      [](config& c, std::string_view v) { c.allow_corruption = parse_bool(v); },
      [](const config& c) -> std::optional<std::string> { return std::string(c.allow_corruption ? "true" : "false"); }});
    t.push_back({"catalogue", "BASE_PORT",
      [](const config&) { return std::string("serve the failure catalogue: one TCP listener per behaviour on ports BASE_PORT to BASE_PORT+9 (plain echo, refuse, no-accept, accept-then-close, accept-then-reset, blackhole, stall, slice 1, latency 1s, slow-read), on --bind's address; its port table goes to stderr. Without --port or --listen it replaces the --port listener; 0 gives each a free port (default: off)"); },
      [](config& c, std::string_view v) { c.catalogue = listener_spec{std::nullopt, parse_port(v)}; },
      [](const config& c) -> std::optional<std::string> {
        if (!c.catalogue) return std::nullopt;
        return std::to_string(c.catalogue->port);
      }});
    // clang-format on
    return t;
  }();
  return table;
}

// What only the command line has, besides the settings.
po::options_description command_line_only() {
  po::options_description desc("Other options");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("version,V", "print the version and exit")
    ("config,c", po::value<std::string>()->value_name("FILE"),
       "read settings from FILE ('key = value' lines, keys as the flags above; '#' comments)")
    ("print-config", "print the effective configuration, with where each value came from, "
       "in the --config syntax, and exit");
  // clang-format on
  return desc;
}

po::options_description setting_descriptions(bool for_file) {
  const config d;
  // The description column stays where the short flags put it: a long switch
  // (--allow-corruption) gets its own line instead of pushing every description right.
  po::options_description desc(
      "Settings (also ECHO_SVC_<FLAG> in the environment, or 'flag = value' in --config FILE)",
      po::options_description::m_default_line_length, 50);
  for (const auto& s : settings()) {
    const auto help = s.help(d);
    std::string key = s.name;
    if (!for_file) {
      const std::string_view n = s.name;
      if (n == "port") key += ",p";
      else if (n == "bind") key += ",b";
      else if (n == "threads") key += ",t";
    }
    if (s.repeatable) {
      desc.add_options()(key.c_str(),
                         po::value<std::vector<std::string>>()->value_name(s.value_name)->composing(),
                         help.c_str());
    } else if (s.value_name) {
      desc.add_options()(key.c_str(), po::value<std::string>()->value_name(s.value_name), help.c_str());
    } else if (for_file) {
      desc.add_options()(key.c_str(), po::value<std::string>()->value_name("BOOL"), help.c_str());
    } else {
      // A switch on the command line; "--reuse-port=false" also works.
      desc.add_options()(key.c_str(), po::value<std::string>()->value_name("BOOL")->implicit_value("true"),
                         help.c_str());
    }
  }
  return desc;
}

}  // namespace

std::uint16_t parse_port(std::string_view text) {
  const auto v = parse_decimal(text);
  if (!v || *v > std::numeric_limits<std::uint16_t>::max())
    throw usage_error(fmt::format("invalid port '{}': expected a number from 0 to 65535", text));
  return static_cast<std::uint16_t>(*v);
}

unsigned parse_threads(std::string_view text) {
  const auto v = parse_decimal(text);
  if (!v || *v > std::numeric_limits<unsigned>::max())
    throw usage_error(
        fmt::format("invalid thread count '{}': expected a number from 0 to {}", text, config::max_threads));
  return static_cast<unsigned>(*v);
}

std::chrono::milliseconds parse_duration(std::string_view text) {
  const auto [digits, unit] = split_unit(text);
  const auto v = parse_decimal(digits);
  const auto bad = [&] {
    return usage_error(
        fmt::format("invalid duration '{}': expected e.g. 500ms, 5s or 1m, at most 24h", text));
  };
  const auto max_ms = static_cast<unsigned long long>(config::max_duration.count());
  if (!v || *v > max_ms) throw bad();
  std::chrono::milliseconds result{};
  const auto n = static_cast<std::chrono::milliseconds::rep>(*v);
  if (unit == "ms") result = std::chrono::milliseconds(n);
  else if (unit.empty() || unit == "s") result = std::chrono::seconds(n);
  else if (unit == "m") result = std::chrono::minutes(n);
  else if (unit == "h") result = std::chrono::hours(n);
  else throw bad();
  if (result > config::max_duration) throw bad();
  return result;
}

std::size_t parse_size(std::string_view text) {
  const auto [digits, unit] = split_unit(text);
  const auto v = parse_decimal(digits);
  const auto bad = [&] {
    return usage_error(
        fmt::format("invalid size '{}': expected bytes from {} to 16MiB, e.g. 16384, 64KiB, 1MiB", text,
                    config::min_buffer_size));
  };
  if (!v || *v > config::max_buffer_size) throw bad();
  std::size_t scale = 1;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "K" || unit == "k" || unit == "KiB") scale = 1024;
  else if (unit == "M" || unit == "m" || unit == "MiB") scale = 1024 * 1024;
  else throw bad();
  const auto bytes = static_cast<std::size_t>(*v) * scale;
  if (bytes > config::max_buffer_size) throw bad();
  return bytes;
}

boost::asio::ip::address parse_address(std::string_view text) {
  std::string_view inner = text;
  // Accept the bracketed form people copy from URLs and from our own ready line.
  if (inner.size() > 2 && inner.front() == '[' && inner.back() == ']')
    inner = inner.substr(1, inner.size() - 2);
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(inner), ec);
  if (ec)
    throw usage_error(
        fmt::format("invalid bind address '{}': expected a numeric IPv4 or IPv6 address", text));
  return address;
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms == 0) return "0";
  if (ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

std::string format_size(std::size_t bytes) {
  constexpr std::size_t mib = 1024 * 1024;
  if (bytes != 0 && bytes % mib == 0) return fmt::format("{}MiB", bytes / mib);
  if (bytes != 0 && bytes % 1024 == 0) return fmt::format("{}KiB", bytes / 1024);
  return fmt::format("{}", bytes);
}

namespace {

bool given(const std::map<std::string, setting_origin>& origins, const char* key) {
  const auto it = origins.find(key);
  return it != origins.end() && it->second.source != config_source::default_value;
}

bool serves_listen_only(const std::map<std::string, setting_origin>& origins) {
  return given(origins, "listen") && !given(origins, "port") && !given(origins, "bind");
}

// One source's raw values, key -> value, before any conversion.
using raw_values = std::map<std::string, std::string>;

bool is_repeatable(std::string_view key) {
  for (const auto& s : settings())
    if (s.name == key) return s.repeatable;
  return false;
}

void append_value(raw_values& values, const std::string& key, const std::string& value) {
  auto [it, fresh] = values.try_emplace(key, value);
  if (!fresh) (it->second += value_separator) += value;
}

std::string env_name(std::string_view key) {
  std::string name = "ECHO_SVC_";
  for (char ch : key)
    name += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return name;
}

// ECHO_SVC_* entries of `env` as settings, plus ECHO_SVC_CONFIG; anything else with the
// prefix is a mistake (a typo, or a setting this version does not have) and is refused.
raw_values read_environment(std::span<const char* const> env, std::optional<std::string>& config_file) {
  constexpr std::string_view prefix = "ECHO_SVC_";
  raw_values values;
  for (const char* entry : env) {
    if (entry == nullptr) continue;
    const std::string_view e = entry;
    if (e.substr(0, prefix.size()) != prefix) continue;
    const auto eq = e.find('=');
    const auto name = e.substr(0, eq);
    const auto value = eq == std::string_view::npos ? std::string_view{} : e.substr(eq + 1);
    if (name == "ECHO_SVC_CONFIG") {
      config_file = std::string(value);
      continue;
    }
    const setting* found = nullptr;
    for (const auto& s : settings())
      if (env_name(s.name) == name) found = &s;
    if (!found)
      throw config_error(std::string(name),
                         fmt::format("unknown environment variable {}: no such setting (see --help)", name));
    std::string v(value);
    if (found->repeatable) std::replace(v.begin(), v.end(), found->env_separator, value_separator);
    values[found->name] = std::move(v);
  }
  return values;
}

raw_values read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw config_error("config", fmt::format("cannot read config file '{}'", path));
  raw_values values;
  try {
    const auto parsed = po::parse_config_file(in, setting_descriptions(/*for_file=*/true), false);
    for (const auto& o : parsed.options) {
      const auto value = o.value.empty() ? std::string() : o.value.front();
      if (is_repeatable(o.string_key)) {
        append_value(values, o.string_key, value);
        continue;
      }
      if (values.count(o.string_key))
        throw config_error(o.string_key,
                           fmt::format("key '{}' given twice in config file '{}'", o.string_key, path));
      values[o.string_key] = value;
    }
  } catch (const po::unknown_option& e) {
    throw config_error(e.get_option_name(),
                       fmt::format("unknown key '{}' in config file '{}'", e.get_option_name(), path));
  } catch (const po::error& e) {
    throw config_error("config", fmt::format("config file '{}': {}", path, e.what()));
  }
  return values;
}

// A value that came from the environment or a file is the operator's configuration, not
// their typing: its error is a config_error (exit 78), and names the source.
[[noreturn]] void rethrow_for(const setting_origin& origin, const std::string& key,
                              const std::string& message) {
  if (origin.source == config_source::command_line) throw usage_error(message);
  throw config_error(key, fmt::format("{} (from {})", message, origin.describe()));
}

po::options_description check_descriptions() {
  po::options_description desc("Options");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("host", po::value<std::string>()->value_name("HOST"), "address or name of the server (default 127.0.0.1)")
    ("port,p", po::value<std::string>()->value_name("P"), "its port (default: ECHO_SVC_PORT, else 7007)")
    ("timeout", po::value<std::string>()->value_name("DUR"), "for the whole probe (default 2s)");
  // clang-format on
  return desc;
}

check_options parse_check(std::span<const char* const> args, std::span<const char* const> env, bool& help) {
  check_options opts;
  // The probe runs beside a server configured by the same environment: its port is the
  // default, so a HEALTHCHECK keeps working when ECHO_SVC_PORT moves the port.
  for (const char* entry : env) {
    const std::string_view e = entry ? entry : "";
    constexpr std::string_view key = "ECHO_SVC_PORT=";
    if (e.substr(0, key.size()) == key) opts.port = parse_port(e.substr(key.size()));
  }
  const auto desc = check_descriptions();
  po::variables_map vm;
  try {
    const po::positional_options_description no_positionals;
    po::store(po::command_line_parser(static_cast<int>(args.size()), args.data())
                  .options(desc)
                  .positional(no_positionals)
                  .style(po::command_line_style::unix_style ^ po::command_line_style::allow_guessing)
                  .run(),
              vm);
  } catch (const po::error& e) {
    throw usage_error(e.what());
  }
  help = vm.count("help") != 0;
  if (vm.count("host")) opts.host = vm["host"].as<std::string>();
  if (vm.count("port")) opts.port = parse_port(vm["port"].as<std::string>());
  if (vm.count("timeout")) opts.timeout = parse_duration(vm["timeout"].as<std::string>());
  if (opts.timeout.count() == 0) throw usage_error("invalid timeout 0: the probe needs some time");
  return opts;
}

std::string check_description() {
  return "Usage: echo-svc check [--host H] [--port P] [--timeout DUR]\n\n"
         "Connects to an echo server, sends a few random bytes, reads them back and compares.\n"
         "Exit 0 when the echo is exact; exit 1 with a one-line reason otherwise. Made for\n"
         "container health checks: needs no shell and no other tool.\n\n";
}

}  // namespace

std::string setting_origin::describe() const {
  switch (source) {
    case config_source::default_value: return "default";
    case config_source::file: return fmt::format("file {}", where);
    case config_source::environment: return fmt::format("environment {}", where);
    case config_source::command_line: return "command line";
  }
  return "?";
}

listener_spec parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  const auto bad = [&] {
    return usage_error(fmt::format(
        "invalid endpoint '{}': expected ADDR:PORT, e.g. 127.0.0.1:9100, [::1]:9100 or :9100", text));
  };
  if (colon == std::string_view::npos) throw bad();
  const auto host = text.substr(0, colon);
  // An unbracketed IPv6 address would make the port ambiguous.
  if (host.find(':') != std::string_view::npos && host.front() != '[') throw bad();
  listener_spec spec;
  try {
    spec.port = parse_port(text.substr(colon + 1));
    if (!host.empty()) spec.address = parse_address(host);
  } catch (const usage_error&) {
    throw bad();
  }
  return spec;
}

std::string format_endpoint(const listener_spec& spec) {
  return fmt::format("{}:{}", spec.address ? address_text(*spec.address) : std::string(), spec.port);
}

unsigned parse_mode(std::string_view text) {
  unsigned mode = 0;
  const auto* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, mode, 8);
  if (text.empty() || ec != std::errc{} || p != end || mode > 0777)
    throw usage_error(fmt::format("invalid mode '{}': expected octal permission bits, e.g. 0660", text));
  return mode;
}

bool parse_bool(std::string_view text) {
  std::string lower;
  for (char ch : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") return false;
  throw usage_error(fmt::format("invalid switch value '{}': expected true or false", text));
}

command_line parse_command_line(std::span<const char* const> args, std::span<const char* const> env) {
  command_line result;
  if (args.size() >= 2 && std::string_view(args[1]) == "check") {
    bool help = false;
    result.check = parse_check(args.subspan(1), env, help);
    result.what = help ? command_line::action::check_help : command_line::action::check;
    return result;
  }

  po::options_description desc;
  desc.add(setting_descriptions(/*for_file=*/false)).add(command_line_only());
  raw_values flags;
  bool help = false, show_version = false, print = false;
  std::optional<std::string> config_file;
  try {
    // An empty positional description makes a stray word an error instead of ignored.
    const po::positional_options_description no_positionals;
    const auto parsed =
        po::command_line_parser(static_cast<int>(args.size()), args.data())
            .options(desc)
            .positional(no_positionals)
            .style(po::command_line_style::unix_style ^ po::command_line_style::allow_guessing)
            .run();
    // store() checks what a flag may not do twice; the values are taken from `parsed` so
    // that each source goes through the same conversions.
    po::variables_map vm;
    po::store(parsed, vm);
    for (const auto& o : parsed.options) {
      if (o.string_key == "help") help = true;
      else if (o.string_key == "version") show_version = true;
      else if (o.string_key == "print-config") print = true;
      else if (o.string_key == "config") config_file = o.value.front();
      else if (is_repeatable(o.string_key)) append_value(flags, o.string_key, o.value.front());
      else flags[o.string_key] = o.value.empty() ? std::string("true") : o.value.front();
    }
  } catch (const po::error& e) {
    throw usage_error(e.what());
  }
  if (help) {
    result.what = command_line::action::help;
    return result;
  }
  if (show_version) {
    result.what = command_line::action::version;
    return result;
  }
  if (print) result.what = command_line::action::print_config;

  std::optional<std::string> env_config_file;
  const auto from_env = read_environment(env, env_config_file);
  if (!config_file) config_file = env_config_file;
  raw_values from_file;
  if (config_file) {
    from_file = read_file(*config_file);
    result.config_file = *config_file;
  }

  config& cfg = result.cfg;
  for (const auto& s : settings()) {
    setting_origin origin;
    const std::string* value = nullptr;
    if (auto f = flags.find(s.name); f != flags.end()) {
      origin = {config_source::command_line, {}};
      value = &f->second;
    } else if (auto e = from_env.find(s.name); e != from_env.end()) {
      origin = {config_source::environment, env_name(s.name)};
      value = &e->second;
    } else if (auto i = from_file.find(s.name); i != from_file.end()) {
      origin = {config_source::file, *config_file};
      value = &i->second;
    }
    if (value) {
      try {
        s.apply(cfg, *value);
      } catch (const usage_error& e) {
        rethrow_for(origin, s.name, e.what());
      }
    }
    // An overridden value is still read: a typo in the file must not wait to surface until
    // the day the flag that hides it is removed.
    config scratch;
    const auto check_hidden = [&](const raw_values& values, const setting_origin& from) {
      const auto it = values.find(s.name);
      if (it == values.end() || &it->second == value) return;
      try {
        s.apply(scratch, it->second);
      } catch (const usage_error& e) {
        rethrow_for(from, s.name, e.what());
      }
    };
    check_hidden(from_env, {config_source::environment, env_name(s.name)});
    if (config_file) check_hidden(from_file, {config_source::file, *config_file});
    result.origins[s.name] = origin;
  }
  // The catalogue listens where --bind says, and replaces the --port listener unless a
  // port or URL was asked for too.
  if (cfg.catalogue) {
    cfg.catalogue->address = cfg.listeners.front().address;
    if (!given(result.origins, "port") && !given(result.origins, "listen"))
      cfg.listeners.erase(cfg.listeners.begin());
  }
  // --listen alone replaces the default TCP listener; with --port or --bind it is served too.
  // (Never both: the catalogue above replaces it only without --listen.)
  if (serves_listen_only(result.origins)) cfg.listeners.erase(cfg.listeners.begin());
  try {
    validate(cfg);
  } catch (const config_error& e) {
    const auto it = result.origins.find(e.setting());
    rethrow_for(it != result.origins.end() ? it->second : setting_origin{config_source::command_line, {}},
                e.setting(), e.what());
  }
  return result;
}

std::string print_config(const command_line& cmd) {
  std::string out =
      fmt::format("# echo-svc {} effective configuration; valid as a --config file.\n", version);
  if (!cmd.config_file.empty()) out += fmt::format("# Read from config file {}.\n", cmd.config_file);
  const bool catalogue_only =
      cmd.cfg.catalogue && !given(cmd.origins, "port") && !given(cmd.origins, "listen");
  const bool listen_only = serves_listen_only(cmd.origins) || catalogue_only;
  for (const auto& s : settings()) {
    const std::string_view name = s.name;
    const auto it = cmd.origins.find(s.name);
    const auto origin = it != cmd.origins.end() ? it->second.describe() : std::string("default");
    if (name == "listen") {
      // The --port/--bind listener comes first unless the URLs replaced it.
      const std::size_t first = listen_only ? 0 : 1;
      if (cmd.cfg.listeners.size() <= first) out += fmt::format("# listen = (unset)  # {}\n", origin);
      for (std::size_t i = first; i < cmd.cfg.listeners.size(); ++i)
        out += fmt::format("listen = {}  # {}\n", format_listen_url(cmd.cfg.listeners[i]), origin);
      continue;
    }
    if (name == "fault") {
      if (cmd.cfg.faults.empty()) out += fmt::format("# fault = (unset)  # {}\n", origin);
      for (const auto& f : cmd.cfg.faults)
        out += fmt::format("fault = {}  # {}\n", format_fault_spec(f), origin);
      continue;
    }
    if (listen_only && (name == "port" || (name == "bind" && !catalogue_only))) {
      out += fmt::format("# {} = (unused: {} is set)  # {}\n", name, catalogue_only ? "catalogue" : "listen",
                         origin);
      continue;
    }
    if (name == "admin-token" && !cmd.cfg.admin_token.empty()) {
      out += fmt::format("# {} = (set, not shown)  # {}\n", name, origin);
      continue;
    }
    const auto value = s.show(cmd.cfg);
    if (value) out += fmt::format("{} = {}  # {}\n", s.name, *value, origin);
    else out += fmt::format("# {} = (unset)  # {}\n", s.name, origin);
  }
  return out;
}

std::string usage_text() {
  std::ostringstream out;
  out << "Usage: echo-svc [--threads N] [--port P] [--bind ADDR] [options]\n"
         "       echo-svc check [--host H] [--port P]\n\n"
         "A TCP echo service: every byte a client sends is sent back, in order, exactly once.\n\n"
      << setting_descriptions(/*for_file=*/false) << "\n"
      << command_line_only()
      << "\nPrecedence: command line > environment (ECHO_SVC_PORT=7007, ECHO_SVC_LOG_LEVEL=debug,\n"
         "ECHO_SVC_CONFIG=FILE) > config file > default. An unknown ECHO_SVC_* variable or file\n"
         "key is an error.\n"
         "\nSocket activation: started by systemd (or systemd-socket-activate) with LISTEN_PID set\n"
         "to its pid and LISTEN_FDS=N, echo-svc serves the N listening TCP sockets passed as\n"
         "descriptors 3.. instead of binding --bind/--port.\n"
         "\nOnce listening, exactly one line per listener is printed on stdout:\n"
         "  listening on ADDR:PORT        e.g. 'listening on 127.0.0.1:40123', '[::]:7007'\n"
         "  listening on http://ADDR:PORT the admin listener, last, if --admin-listen is set\n"
         "The port is the text after the last ':'. Logs go to stderr.\n\n"
         "Exit codes:\n"
         "  0    clean exit (including a graceful stop on SIGTERM/SIGINT)\n"
         "  64   usage error: bad flag, missing or invalid value\n"
         "  69   cannot listen: address in use or not bindable, or a socket passed by the\n"
         "       service manager is not a listening TCP socket\n"
         "  70   internal error\n"
         "  71   the OS refused a resource at start-up (threads, descriptors)\n"
         "  78   configuration error: unknown ECHO_SVC_* variable or file key, unreadable\n"
         "       config file, or a bad value in either; malformed LISTEN_PID, LISTEN_FDS\n"
         "       or LISTEN_FDNAMES\n"
         "  128+N  a second signal N arrived during the graceful stop (130 for SIGINT,\n"
         "         143 for SIGTERM): remaining sessions were closed at once\n"
         "\n"
      << check_description();
  return out.str();
}

std::string check_usage_text() {
  std::ostringstream out;
  out << check_description() << check_descriptions();
  return out.str();
}

}  // namespace echo
