#pragma once

#include <span>
#include <string>
#include <string_view>

#include "echo/config.hpp"

namespace echo {

/// What the command line asks for.
struct command_line {
  enum class action { run, help, version };
  action what = action::run;
  config cfg;
};

/// Parses argv (program name first) into a validated config. Pure: reads nothing but its
/// arguments, writes nothing. Throws usage_error with a one-line message on bad input.
command_line parse_command_line(std::span<const char* const> args);

/// The --help text (options, ready line, exit codes).
std::string usage_text();

/// Strict parsers shared with later config sources (environment, file).
std::uint16_t parse_port(std::string_view text);
unsigned parse_threads(std::string_view text);
std::chrono::milliseconds parse_duration(std::string_view text);
std::size_t parse_size(std::string_view text);

}  // namespace echo
