#include "echo/config.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include <fmt/format.h>

#include "echo/config_error.hpp"
#include "echo/cpu_count.hpp"

namespace echo {
namespace {

void check_duration(const char* setting, std::chrono::milliseconds value) {
  if (value.count() < 0 || value > config::max_duration)
    throw config_error(setting, fmt::format("invalid {} {}ms: expected 0 to 24h", setting, value.count()));
}

}  // namespace

void validate(const config& cfg) {
  if (cfg.listeners.empty() && !cfg.catalogue) throw config_error("listen", "no listener configured");
  if (cfg.catalogue && cfg.catalogue->port != 0 && cfg.catalogue->port > 65535 - 9)
    throw config_error(
        "catalogue",
        fmt::format("invalid catalogue base port {}: its 10 ports must end by 65535", cfg.catalogue->port));
  validate_faults(cfg.faults, cfg.allow_corruption);
  for (const auto& spec : cfg.listeners) {
    if (spec.adopt_fd && *spec.adopt_fd < 0)
      throw config_error("listen", fmt::format("invalid descriptor {} to adopt", *spec.adopt_fd));
    if (spec.adopt_fd && spec.kind != transport::tcp)
      throw config_error("listen", "only TCP listeners can be adopted from a service manager");
    const bool is_unix = spec.kind == transport::unix_stream;
    if (is_unix && (spec.path.empty() || spec.path == "@" || spec.path.size() > 107))
      throw config_error("listen", fmt::format("invalid unix socket path '{}': 1 to 107 bytes", spec.path));
    if (spec.mode && (!is_unix || spec.path.front() == '@' || *spec.mode > 0777))
      throw config_error("listen", "a listener's mode is for unix socket paths, at most 0777");
    if (spec.kind == transport::udp && spec.proxy != proxy_protocol::off)
      throw config_error("listen", "proxy-protocol applies to stream listeners, not udp");
    if (spec.v6only && (is_unix || (spec.address && spec.address->is_v4())))
      throw config_error("listen", "v6only applies to IPv6 listeners");
  }
  const bool any_tls = std::any_of(cfg.listeners.begin(), cfg.listeners.end(),
                                   [](const listener_spec& l) { return l.kind == transport::tls; });
  // Named after the listener: the one setting that asked for TLS is where the fix starts.
  if (any_tls && (cfg.tls.cert_file.empty() || cfg.tls.key_file.empty()))
    throw config_error("listen", "a tls:// listener needs --tls-cert and --tls-key");
  check_duration("tls-handshake-timeout", cfg.tls.handshake_timeout);
  if (cfg.tls.handshake_timeout.count() == 0)
    throw config_error("tls-handshake-timeout",
                       "invalid tls-handshake-timeout 0: a handshake needs some time");
  for (const auto& p : cfg.tls.alpn)
    if (p.empty() || p.size() > 255)
      throw config_error("tls-alpn", fmt::format("invalid ALPN protocol '{}': 1 to 255 bytes", p));
  if (cfg.unix_mode && *cfg.unix_mode > 0777)
    throw config_error("unix-mode", fmt::format("invalid unix-mode {:o}: at most 0777", *cfg.unix_mode));
  if (cfg.threads > config::max_threads)
    throw config_error("threads", fmt::format("invalid thread count '{}': expected a number from 0 to {}",
                                              cfg.threads, config::max_threads));
  if (cfg.buffer_size < config::min_buffer_size || cfg.buffer_size > config::max_buffer_size)
    throw config_error("buffer-size", fmt::format("invalid buffer size {}: expected bytes from {} to 16MiB",
                                                  cfg.buffer_size, config::min_buffer_size));
  if (cfg.max_connections > config::max_max_connections)
    throw config_error("max-connections",
                       fmt::format("invalid connection limit '{}': expected a number from 0 to {}",
                                   cfg.max_connections, config::max_max_connections));
  if (cfg.backlog < 1 || cfg.backlog > config::max_backlog)
    throw config_error("backlog", fmt::format("invalid backlog {}: expected a number from 1 to {}",
                                              cfg.backlog, config::max_backlog));
  check_duration("shutdown-timeout", cfg.shutdown_timeout);
  check_duration("idle-timeout", cfg.idle_timeout);
  check_duration("write-timeout", cfg.write_timeout);
  check_duration("shutdown-delay", cfg.shutdown_delay);
  if (cfg.format != log_format::text && cfg.format != log_format::json)
    throw config_error("log-format", "invalid log format");
  if (cfg.level < log_level::trace || cfg.level > log_level::off)
    throw config_error("log-level", "invalid log level");
  if (!cfg.admin_token.empty() && !cfg.admin_token_file.empty())
    throw config_error("admin-token-file", "give admin-token or admin-token-file, not both");
  // The token itself is never repeated in a message: messages end up in logs.
  if (!cfg.admin_token.empty() && !valid_admin_token(cfg.admin_token))
    throw config_error(
        "admin-token",
        fmt::format("invalid admin-token: expected 1 to {} characters of A-Z a-z 0-9 - . _ ~ + / "
                    "(then = padding)",
                    config::max_admin_token));
  if (cfg.connection_history > config::max_connection_history)
    throw config_error("connection-history",
                       fmt::format("invalid connection-history {}: expected a number from 0 to {}",
                                   cfg.connection_history, config::max_connection_history));
}

bool valid_admin_token(std::string_view token) noexcept {
  if (token.empty() || token.size() > config::max_admin_token) return false;
  std::size_t end = token.size();
  while (end > 0 && token[end - 1] == '=') --end;
  if (end == 0) return false;
  for (std::size_t i = 0; i < end; ++i) {
    const char c = token[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

std::string effective_admin_token(const config& cfg) {
  if (cfg.admin_token_file.empty()) return cfg.admin_token;
  std::ifstream in(cfg.admin_token_file);
  std::string token;
  if (!in || !std::getline(in, token))
    throw config_error("admin-token-file",
                       fmt::format("cannot read admin-token-file '{}'", cfg.admin_token_file));
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (!valid_admin_token(token))
    throw config_error("admin-token-file",
                       fmt::format("admin-token-file '{}' holds no valid token on its first line: expected 1 "
                                   "to {} characters of A-Z a-z 0-9 - . _ ~ + / (then = padding)",
                                   cfg.admin_token_file, config::max_admin_token));
  return token;
}

unsigned effective_threads(const config& cfg) { return cfg.threads == 0 ? available_cpus() : cfg.threads; }

std::size_t effective_max_connections(const config& cfg) {
  if (cfg.max_connections != 0) return cfg.max_connections;
  return descriptor_budget();
}

std::size_t descriptor_budget() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return 1'000'000;
  const auto soft = static_cast<std::size_t>(lim.rlim_cur);
  return soft > 2 * fd_reserve ? soft - fd_reserve : std::max<std::size_t>(1, soft / 2);
}

}  // namespace echo
