// echo-svc: parse the command line, run the service, map failures to exit codes.
#include <cstdio>
#include <exception>
#include <span>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "echo/config_error.hpp"
#include "echo/config_parser.hpp"
#include "echo/exit_code.hpp"
#include "echo/logger.hpp"
#include "echo/service.hpp"
#include "echo/setup_error.hpp"
#include "echo/version.hpp"

namespace {

int main_impl(std::span<const char* const> args) {
  const auto cmd = echo::parse_command_line(args);
  switch (cmd.what) {
    case echo::command_line::action::help: fmt::print("{}", echo::usage_text()); return 0;
    case echo::command_line::action::version: fmt::print("echo-svc {}\n", echo::version); return 0;
    case echo::command_line::action::run: break;
  }
  echo::logger::instance().set_level(cmd.cfg.level);
  echo::service svc(cmd.cfg);
  // The ready output is the harness contract: one line per listener, on stdout, written at
  // once and flushed, after every listener is listening.
  std::string ready;
  for (const auto& line : svc.ready_lines()) ready += line + '\n';
  fmt::print("{}", ready);
  std::fflush(stdout);
  return svc.run();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return main_impl(std::span<const char* const>(argv, static_cast<std::size_t>(argc)));
  } catch (const echo::config_error& e) {  // usage_error included
    fmt::print(stderr, "echo-svc: {} (see --help)\n", e.what());
    return echo::to_int(echo::exit_code::usage);
  } catch (const echo::setup_error& e) {
    fmt::print(stderr, "echo-svc: {}\n", e.what());
    return echo::to_int(echo::exit_code::unavailable);
  } catch (const std::system_error& e) {
    fmt::print(stderr, "echo-svc: {}\n", e.what());
    return echo::to_int(echo::exit_code::os_error);
  } catch (const std::exception& e) {
    fmt::print(stderr, "echo-svc: internal error: {}\n", e.what());
    return echo::to_int(echo::exit_code::software);
  }
}
