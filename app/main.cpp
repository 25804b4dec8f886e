// echo-svc: read the configuration, run the service (or the health probe), map failures to
// exit codes.
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "echo/config_error.hpp"
#include "echo/config_parser.hpp"
#include "echo/exit_code.hpp"
#include "echo/health_check.hpp"
#include "echo/logger.hpp"
#include "echo/ready_file.hpp"
#include "echo/service.hpp"
#include "echo/setup_error.hpp"
#include "echo/socket_activation.hpp"
#include "echo/usage_error.hpp"
#include "echo/version.hpp"

extern char** environ;

namespace {

std::span<const char* const> environment() {
  std::size_t n = 0;
  while (environ != nullptr && environ[n] != nullptr) ++n;
  return {const_cast<const char* const*>(environ), n};
}

int check(const echo::check_options& opts) {
  const auto failure = echo::run_health_check(opts);
  if (failure.empty()) {
    fmt::print("ok: {}:{} echoed {} bytes\n", opts.host, opts.port, opts.bytes);
    return 0;
  }
  fmt::print(stderr, "echo-svc check: {}\n", failure);
  return 1;
}

int main_impl(std::span<const char* const> args) {
  const auto cmd = echo::parse_command_line(args, environment());
  switch (cmd.what) {
    case echo::command_line::action::help: fmt::print("{}", echo::usage_text()); return 0;
    case echo::command_line::action::version: fmt::print("echo-svc {}\n", echo::version); return 0;
    case echo::command_line::action::print_config: fmt::print("{}", echo::print_config(cmd)); return 0;
    case echo::command_line::action::check_help: fmt::print("{}", echo::check_usage_text()); return 0;
    case echo::command_line::action::check: return check(cmd.check);
    case echo::command_line::action::run: break;
  }
  echo::logger::instance().set_level(cmd.cfg.level);
  echo::logger::instance().set_format(cmd.cfg.format);
  // Sockets passed by systemd replace the configured listeners; the variables go at once so
  // that nothing this process starts takes the sockets as its own.
  auto cfg = cmd.cfg;
  echo::use_activated_sockets(cfg, echo::parse_socket_activation(environment(), ::getpid()));
  echo::unset_socket_activation_environment();
  echo::service svc(cfg);
  // The ready output is the harness contract: one line per listener, on stdout, written at
  // once and flushed, after every listener is listening.
  std::string ready;
  for (const auto& line : svc.ready_lines()) ready += line + '\n';
  // The file first: if it cannot be written, stdout has not claimed readiness either.
  std::optional<echo::ready_file> ready_file;
  if (!cfg.ready_file.empty()) ready_file.emplace(cfg.ready_file, ready);
  fmt::print("{}", ready);
  std::fflush(stdout);
  // The catalogue's port table is for the operator: stderr, so the ready output keeps its
  // one line per listener.
  if (const auto table = svc.get_server().catalogue_table(); !table.empty()) {
    if (cfg.format == echo::log_format::json) {
      for (const auto& row : table)
        echo::log_event(echo::log_level::info, "catalogue", "catalogue", {{"row", row}});
    } else {
      std::string text =
          "failure catalogue:\nport   behaviour                                             fault\n";
      for (const auto& row : table) text += row + '\n';
      fmt::print(stderr, "{}", text);
    }
  }
  return svc.run();
}

}  // namespace

// The last word before a failing exit. Usage and configuration errors come before the log
// format is known and stay plain; later failures follow --log-format, so a JSON collector
// sees them as events too (unless --log-level off: the reason is still printed, plain).
int fail(echo::exit_code code, const std::string& text) {
  auto& log = echo::logger::instance();
  if (log.format() == echo::log_format::json && log.enabled(echo::log_level::error)) {
    const echo::log_field fields[] = {{"exit_code", echo::to_int(code)}};
    log.event(echo::log_level::error, "exit", text, fields);
  } else {
    fmt::print(stderr, "echo-svc: {}\n", text);
  }
  return echo::to_int(code);
}

int main(int argc, char** argv) {
  try {
    return main_impl(std::span<const char* const>(argv, static_cast<std::size_t>(argc)));
  } catch (const echo::usage_error& e) {
    fmt::print(stderr, "echo-svc: {} (see --help)\n", e.what());
    return echo::to_int(echo::exit_code::usage);
  } catch (const echo::config_error& e) {
    fmt::print(stderr, "echo-svc: configuration error: {}\n", e.what());
    return echo::to_int(echo::exit_code::config);
  } catch (const echo::setup_error& e) {
    return fail(echo::exit_code::unavailable, e.what());
  } catch (const std::system_error& e) {
    return fail(echo::exit_code::os_error, e.what());
  } catch (const std::exception& e) {
    return fail(echo::exit_code::software, std::string("internal error: ") + e.what());
  }
}
