#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

#include "echo/config.hpp"
#include "echo/health_check.hpp"

namespace echo {

/// Where a setting's effective value came from, highest precedence last.
enum class config_source { default_value, file, environment, command_line };

/// One setting's origin: the source, and which variable or file within it.
struct setting_origin {
  config_source source = config_source::default_value;
  /// "ECHO_SVC_PORT" for the environment, the path for a file, empty otherwise.
  std::string where;

  /// "default", "command line", "environment ECHO_SVC_PORT", "file /etc/echo-svc.conf".
  std::string describe() const;
};

/// What the command line asks for.
struct command_line {
  enum class action { run, help, version, print_config, check, check_help };
  action what = action::run;
  config cfg;
  /// Every setting's origin, keyed by its flag name without dashes ("port").
  std::map<std::string, setting_origin> origins;
  /// The config file that was read, if any.
  std::string config_file;
  /// For action::check.
  check_options check;
};

/// Builds the config from the command line (argv, program name first), the environment
/// (`env`: "NAME=VALUE" entries; only ECHO_SVC_* are read) and the file named by --config or
/// ECHO_SVC_CONFIG, with precedence flag > environment > file > default, then validates it.
/// Reads nothing else and writes nothing.
/// Throws usage_error (exit 64) for a bad flag or a flag's bad value, and config_error
/// (exit 78) for an unknown ECHO_SVC_* variable, an unknown file key, an unreadable file, or
/// a bad value from the environment or the file; each message is one line naming the key
/// and its source.
command_line parse_command_line(std::span<const char* const> args, std::span<const char* const> env = {});

/// The effective configuration in the --config file syntax, each value commented with its
/// origin: the output of `--print-config`, readable back with `--config`.
std::string print_config(const command_line& cmd);

/// The --help text (options with their defaults from config{}, sources, ready line, exit
/// codes).
std::string usage_text();
/// The help text of `echo-svc check`.
std::string check_usage_text();

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
/// "127.0.0.1:9100", "[::1]:9100", or ":9100" (every address, as --bind's default).
listener_spec parse_endpoint(std::string_view text);
/// Octal permission bits, "0660" or "660", at most 0777.
unsigned parse_mode(std::string_view text);
/// "true"/"false" (also 1/0, yes/no, on/off).
bool parse_bool(std::string_view text);

/// The shortest exact spelling parse_duration() reads back: "5s", "250ms", "5m".
std::string format_duration(std::chrono::milliseconds d);
/// The shortest exact spelling parse_size() reads back: "64KiB", "1MiB", "1000".
std::string format_size(std::size_t bytes);
/// What parse_endpoint() reads back: "127.0.0.1:9100", "[::1]:9100", ":9100".
std::string format_endpoint(const listener_spec& spec);

}  // namespace echo
