#include "echo/socket_activation.hpp"

#include <cstdlib>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "echo/config_error.hpp"
#include "echo/config_parser.hpp"
#include "echo/logger.hpp"

namespace echo {
namespace {

constexpr const char* listen_pid = "LISTEN_PID";
constexpr const char* listen_fds = "LISTEN_FDS";
constexpr const char* listen_fdnames = "LISTEN_FDNAMES";

std::optional<std::string_view> lookup(std::span<const char* const> env, std::string_view name) {
  // The last entry wins, as getenv() would see it.
  std::optional<std::string_view> found;
  for (const char* entry : env) {
    if (entry == nullptr) continue;
    const std::string_view e(entry);
    if (e.size() > name.size() && e.starts_with(name) && e[name.size()] == '=')
      found = e.substr(name.size() + 1);
  }
  return found;
}

// Digits only: no sign, no blanks, no suffix; at most `max`.
unsigned long long parse_number(std::string_view variable, std::string_view text, unsigned long long max) {
  const auto bad = [&] {
    return config_error(std::string(variable),
                        fmt::format("invalid {} '{}': expected a number from 0 to {}", variable, text, max));
  };
  if (text.empty() || text.size() > 19) throw bad();
  unsigned long long n = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') throw bad();
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  if (n > max) throw bad();
  return n;
}

}  // namespace

std::vector<activated_socket> parse_socket_activation(std::span<const char* const> env, pid_t pid) {
  const auto pid_text = lookup(env, listen_pid);
  const auto fds_text = lookup(env, listen_fds);
  if (!pid_text || !fds_text) return {};
  // pid_t is a 32-bit int on Linux; 0 is nobody's pid.
  const auto target = parse_number(listen_pid, *pid_text, 2'147'483'647);
  if (target == 0) throw config_error(listen_pid, "invalid LISTEN_PID '0': expected a process id");
  if (target != static_cast<unsigned long long>(pid)) return {};
  const auto count = static_cast<std::size_t>(parse_number(listen_fds, *fds_text, max_activated_sockets));

  std::vector<activated_socket> sockets(count);
  for (std::size_t i = 0; i < count; ++i) sockets[i].fd = listen_fds_start + static_cast<int>(i);
  if (const auto names = lookup(env, listen_fdnames); names && count != 0) {
    std::size_t i = 0;
    std::size_t begin = 0;
    for (;;) {
      const auto colon = names->find(':', begin);
      const auto name = names->substr(begin, colon == std::string_view::npos ? colon : colon - begin);
      if (i < count) sockets[i].name = std::string(name);
      ++i;
      if (colon == std::string_view::npos) break;
      begin = colon + 1;
    }
    if (i != count)
      throw config_error(
          listen_fdnames,
          fmt::format("invalid LISTEN_FDNAMES '{}': {} name(s) for LISTEN_FDS={}", *names, i, count));
  }
  return sockets;
}

void unset_socket_activation_environment() {
  ::unsetenv(listen_pid);
  ::unsetenv(listen_fds);
  ::unsetenv(listen_fdnames);
}

void use_activated_sockets(config& cfg, const std::vector<activated_socket>& sockets) {
  if (sockets.empty()) return;
  std::string passed;
  std::string configured;
  for (const auto& s : sockets)
    passed += fmt::format("{}fd {}{}", passed.empty() ? "" : ", ", s.fd,
                          s.name.empty() ? std::string() : fmt::format(" '{}'", s.name));
  for (const auto& spec : cfg.listeners)
    configured += fmt::format("{}{}", configured.empty() ? "" : ", ", format_endpoint(spec));
  log_event(log_level::info, "socket_activation",
            "serving sockets passed by the service manager instead of binding",
            {{"sockets", sockets.size()}, {"passed", passed}, {"configured", configured}});
  std::vector<listener_spec> adopted(sockets.size());
  for (std::size_t i = 0; i < sockets.size(); ++i) adopted[i].adopt_fd = sockets[i].fd;
  cfg.listeners = std::move(adopted);
}

}  // namespace echo
