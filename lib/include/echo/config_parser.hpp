#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

#include "echo/config.hpp"

namespace echo {

/// What the command line asks for.
struct command_line {
  enum class action { run, help, version };
  action what = action::run;
  config cfg;
};

/// Parses argv (program name first) into a config and validates it. Pure: reads nothing but
/// its arguments, writes nothing. Throws usage_error with a one-line message on bad input,
/// including a value validate() rejects.
command_line parse_command_line(std::span<const char* const> args);

/// The --help text (options with their defaults from config{}, ready line, exit codes).
std::string usage_text();

/// Strict text-to-value conversions, shared by every config source. They check syntax (and
/// what the type can hold); range rules are validate()'s. Each throws usage_error.
std::uint16_t parse_port(std::string_view text);
unsigned parse_threads(std::string_view text);
/// "500ms", "5s", "1m", "2h"; a bare number is seconds; at most config::max_duration.
std::chrono::milliseconds parse_duration(std::string_view text);
/// "16384", "64KiB", "1MiB" (K/k and M/m too); at most config::max_buffer_size.
std::size_t parse_size(std::string_view text);
/// A numeric IPv4 or IPv6 address; IPv6 may be in brackets ("[::1]").
boost::asio::ip::address parse_address(std::string_view text);

/// The shortest exact spelling parse_duration() reads back: "5s", "250ms", "5m".
std::string format_duration(std::chrono::milliseconds d);
/// The shortest exact spelling parse_size() reads back: "64KiB", "1MiB", "1000".
std::string format_size(std::size_t bytes);

}  // namespace echo
