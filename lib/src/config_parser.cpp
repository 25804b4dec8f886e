#include "echo/config_parser.hpp"

#include <charconv>
#include <limits>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include "echo/config_error.hpp"
#include "echo/usage_error.hpp"

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

po::options_description option_descriptions() {
  // Every default shown here is read from config{}, so help and behaviour cannot disagree.
  const config d;
  const auto& l = d.listeners.front();
  po::options_description desc("Options");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("version,V", "print the version and exit")
    ("port,p", po::value<std::string>()->value_name("P"),
       fmt::format("TCP port to listen on, 0-65535; 0 picks a free one (default {})", l.port).c_str())
    ("bind,b", po::value<std::string>()->value_name("ADDR"),
       "numeric IPv4 or IPv6 address to listen on (default: [::] dual-stack, or 0.0.0.0 "
       "where the kernel has no IPv6)")
    ("threads,t", po::value<std::string>()->value_name("N"),
       fmt::format("threads running the event loop, 0-{}; 0 = CPUs this process may use "
                   "(affinity and cgroup quota) (default {})", config::max_threads, d.threads).c_str())
    ("log-level", po::value<std::string>()->value_name("LEVEL"),
       fmt::format("trace, debug, info, warn, error or off (default {})", to_string(d.level)).c_str())
    ("shutdown-timeout", po::value<std::string>()->value_name("DUR"),
       fmt::format("on SIGTERM/SIGINT, how long sessions may finish before being closed: "
                   "500ms, 5s, 1m; a bare number is seconds (default {})",
                   format_duration(d.shutdown_timeout)).c_str())
    ("max-connections", po::value<std::string>()->value_name("N"),
       fmt::format("sessions allowed at once; above it new connections are accepted and closed "
                   "at once; 0 = the soft descriptor limit minus {} (default {})", fd_reserve,
                   d.max_connections).c_str())
    ("idle-timeout", po::value<std::string>()->value_name("DUR"),
       fmt::format("close a session with no progress in either direction for this long; 0 "
                   "disables (default {})", format_duration(d.idle_timeout)).c_str())
    ("write-timeout", po::value<std::string>()->value_name("DUR"),
       fmt::format("close a session whose echo the peer has not read for this long; 0 disables "
                   "(default {})", format_duration(d.write_timeout)).c_str())
    ("buffer-size", po::value<std::string>()->value_name("SIZE"),
       fmt::format("bytes read at a time per session, {} to {}: 16384, 64KiB, 1MiB (default {})",
                   config::min_buffer_size, format_size(config::max_buffer_size),
                   format_size(d.buffer_size)).c_str())
    ("backlog", po::value<std::string>()->value_name("N"),
       fmt::format("listen(2) backlog, 1-{}; the kernel caps it at net.core.somaxconn (default {})",
                   config::max_backlog, d.backlog).c_str());
  // clang-format on
  return desc;
}

std::string value_of(const po::variables_map& vm, const char* name) { return vm[name].as<std::string>(); }

unsigned long long parse_count(std::string_view text, const char* what) {
  const auto v = parse_decimal(text);
  if (!v) throw usage_error(fmt::format("invalid {} '{}': expected a number", what, text));
  return *v;
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

command_line parse_command_line(std::span<const char* const> args) {
  const auto desc = option_descriptions();
  po::variables_map vm;
  try {
    // An empty positional description makes a stray word an error instead of ignored.
    const po::positional_options_description no_positionals;
    po::store(po::command_line_parser(static_cast<int>(args.size()), args.data())
                  .options(desc)
                  .positional(no_positionals)
                  .style(po::command_line_style::unix_style ^ po::command_line_style::allow_guessing)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw usage_error(e.what());
  }

  command_line result;
  if (vm.count("help")) {
    result.what = command_line::action::help;
    return result;
  }
  if (vm.count("version")) {
    result.what = command_line::action::version;
    return result;
  }

  config& cfg = result.cfg;
  listener_spec& tcp = cfg.listeners.front();
  if (vm.count("port")) tcp.port = parse_port(value_of(vm, "port"));
  if (vm.count("bind")) tcp.address = parse_address(value_of(vm, "bind"));
  if (vm.count("threads")) cfg.threads = parse_threads(value_of(vm, "threads"));
  if (vm.count("shutdown-timeout")) cfg.shutdown_timeout = parse_duration(value_of(vm, "shutdown-timeout"));
  if (vm.count("idle-timeout")) cfg.idle_timeout = parse_duration(value_of(vm, "idle-timeout"));
  if (vm.count("write-timeout")) cfg.write_timeout = parse_duration(value_of(vm, "write-timeout"));
  if (vm.count("max-connections")) {
    const auto v = parse_count(value_of(vm, "max-connections"), "connection limit");
    cfg.max_connections = static_cast<std::size_t>(v);
  }
  if (vm.count("buffer-size")) cfg.buffer_size = parse_size(value_of(vm, "buffer-size"));
  if (vm.count("backlog")) {
    const auto v = parse_count(value_of(vm, "backlog"), "backlog");
    cfg.backlog = static_cast<int>(std::min<unsigned long long>(v, std::numeric_limits<int>::max()));
  }
  if (vm.count("log-level")) {
    const auto text = value_of(vm, "log-level");
    const auto level = parse_log_level(text);
    if (!level)
      throw usage_error(
          fmt::format("invalid log level '{}': expected trace, debug, info, warn, error or off", text));
    cfg.level = *level;
  }
  try {
    validate(cfg);
  } catch (const config_error& e) {
    // From the command line, a value out of range is a usage error like any other.
    throw usage_error(e.what());
  }
  return result;
}

std::string usage_text() {
  std::ostringstream out;
  out << "Usage: echo-svc [--threads N] [--port P] [--bind ADDR] [options]\n\n"
         "A TCP echo service: every byte a client sends is sent back, in order, exactly once.\n\n"
      << option_descriptions()
      << "\nOnce listening, exactly one line per listener is printed on stdout:\n"
         "  listening on ADDR:PORT        e.g. 'listening on 127.0.0.1:40123', '[::]:7007'\n"
         "The port is the text after the last ':'. Logs go to stderr.\n\n"
         "Exit codes:\n"
         "  0    clean exit (including a graceful stop on SIGTERM/SIGINT)\n"
         "  64   usage error: bad flag, missing or invalid value\n"
         "  69   cannot listen: address in use or not bindable\n"
         "  70   internal error\n"
         "  71   the OS refused a resource at start-up (threads, descriptors)\n"
         "  128+N  a second signal N arrived during the graceful stop (130 for SIGINT,\n"
         "         143 for SIGTERM): remaining sessions were closed at once\n";
  return out.str();
}

}  // namespace echo
