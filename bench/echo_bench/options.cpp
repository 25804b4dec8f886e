#include "options.hpp"

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include <charconv>
#include <cmath>
#include <iostream>
#include <limits>

namespace echo::bench {
namespace {

namespace po = boost::program_options;

constexpr const char* exit_codes_text =
    "Exit codes:\n"
    "  0  every echo verified, no I/O error\n"
    "  1  at least one mismatch, short or extra echo, reset, timeout or connect failure\n"
    "  2  usage error (bad option or value)\n";

template <class T>
T parse_unsigned(const std::string& text, const char* name, T min, T max) {
  std::uint64_t v = 0;
  const char* first = text.data();
  const char* last = first + text.size();
  auto [ptr, ec] = std::from_chars(first, last, v);
  if (text.empty() || ec != std::errc{} || ptr != last || v < min || v > max)
    throw usage_error("--" + std::string(name) + ": expected an integer in [" + std::to_string(min) + ", " +
                      std::to_string(max) + "], got '" + text + "'");
  return static_cast<T>(v);
}

// Accepts "5", "5s", "250ms", "1.5s", "2m"; returns seconds.
double parse_seconds(const std::string& text, const char* name, double min) {
  std::size_t used = 0;
  double v = std::numeric_limits<double>::quiet_NaN();
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = text.substr(used);
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  else if (unit == "ms") scale = 1e-3;
  else if (unit == "m") scale = 60;
  if (used == 0 || scale == 0 || !std::isfinite(v) || v * scale < min || v * scale > 86400)
    throw usage_error("--" + std::string(name) + ": expected a duration like 5s, 250ms, 2m (>= " +
                      std::to_string(min) + " s), got '" + text + "'");
  return v * scale;
}

mode parse_mode(const std::string& text) {
  if (text == "pingpong") return mode::pingpong;
  if (text == "stream") return mode::stream;
  if (text == "churn") return mode::churn;
  if (text == "idle") return mode::idle;
  throw usage_error("--mode: expected pingpong, stream, churn or idle, got '" + text + "'");
}

}  // namespace

const char* to_string(transport t) noexcept {
  switch (t) {
    case transport::tcp: return "tcp";
    case transport::tls: return "tls";
    case transport::unix_stream: return "unix";
    case transport::udp: return "udp";
    case transport::mptcp: return "mptcp";
  }
  return "?";
}

const char* to_string(mode m) noexcept {
  switch (m) {
    case mode::pingpong: return "pingpong";
    case mode::stream: return "stream";
    case mode::churn: return "churn";
    case mode::idle: return "idle";
  }
  return "?";
}

std::optional<options> parse_options(int argc, const char* const argv[]) {
  // Every value is taken as a string and converted here, so a bad number gives
  // one clear line instead of program_options' generic message, and negative
  // numbers never wrap into huge unsigned ones.
  po::options_description desc(
      "echo-bench: verifying load generator for echo servers (TCP, TLS, Unix, UDP, MPTCP)\n\n"
      "Usage: echo-bench --port P [--tls | --udp | --mptcp] [--mode pingpong|stream|churn|idle] [options]\n"
      "       echo-bench --unix PATH [--mode ...] [options]\n\nOptions");
  desc.add_options()("help,h", "print this help and exit")("version", "print the version and exit")(
      "mode,m", po::value<std::string>()->default_value("pingpong"),
      "pingpong: send S bytes, await the whole echo, repeat;\n"
      "stream: write and read concurrently (MB/s);\n"
      "churn: connect, echo S bytes, close, repeat (conn/s);\n"
      "idle: open C connections, echo one message each, hold for --duration")(
      "host", po::value<std::string>()->default_value("127.0.0.1"), "server address (IPv4 or IPv6 literal)")(
      "port,p", po::value<std::string>(), "server port (required)")(
      "connections,c", po::value<std::string>()->default_value("1"), "concurrent connections (1..100000)")(
      "size,s", po::value<std::string>()->default_value("64"), "message size in bytes (1..16777216)")(
      "duration,d", po::value<std::string>()->default_value("5s"),
      "run time (5, 5s, 250ms, 2m); idle: hold time")(
      "count,n", po::value<std::string>(), "total messages instead of --duration (churn: total connections)")(
      "threads,t", po::value<std::string>()->default_value("1"), "client threads, one event loop each")(
      "timeout", po::value<std::string>()->default_value("5s"), "connect / no-progress limit per connection")(
      "seed", po::value<std::string>()->default_value("1"),
      "pattern seed (payloads differ per connection and message)")(
      "source-addrs", po::value<std::string>()->default_value("0"),
      "churn on 127.0.0.1: rotate over this many source addresses 127.0.0.1.. (0: auto)")(
      "json", "print one JSON object instead of the table")(
      "ready-line", "print 'established N' on stdout once all connections are up (for harnesses)")(
      "progress", po::value<std::string>()->default_value("auto"), "progress line on stderr: auto, on, off")(
      "tls", "TLS over TCP (every mode); verify with --tls-ca or skip with --insecure")(
      "tls-ca", po::value<std::string>(), "tls: CA file (PEM) the server's certificate must chain to")(
      "tls-name", po::value<std::string>(),
      "tls: DNS name (sent as SNI) or IP the certificate must name (default: --host)")(
      "insecure", "tls: do not verify the server's certificate")(
      "unix", po::value<std::string>(), "Unix stream socket PATH (@name: abstract namespace) instead of TCP")(
      "udp",
      "UDP datagrams: pingpong (one in flight per socket) or stream (a window of 64 in flight per\n"
      "socket, no rate limit); loss, duplicates and reordering are counted, not failures")(
      "loss-timeout", po::value<std::string>()->default_value("1s"),
      "udp: a datagram not echoed within this counts as lost")(
      "mptcp",
      "MPTCP sockets instead of TCP (every mode); against a server without MPTCP the kernel\n"
      "falls back to plain TCP");

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw usage_error(e.what());
  }
  if (vm.count("help")) {
    std::cout << desc << "\n" << exit_codes_text;
    return std::nullopt;
  }
  if (vm.count("version")) {
    std::cout << "echo-bench " << ECHO_BENCH_VERSION << "\n";
    return std::nullopt;
  }

  options o;
  o.run_mode = parse_mode(vm["mode"].as<std::string>());
  o.host = vm["host"].as<std::string>();
  const int kinds =
      static_cast<int>(vm.count("tls") + vm.count("udp") + vm.count("unix") + vm.count("mptcp"));
  if (kinds > 1) throw usage_error("--tls, --udp, --unix and --mptcp exclude each other");
  if (vm.count("tls")) o.kind = transport::tls;
  if (vm.count("udp")) o.kind = transport::udp;
  if (vm.count("mptcp")) o.kind = transport::mptcp;
  if (vm.count("unix")) {
    o.kind = transport::unix_stream;
    o.unix_path = vm["unix"].as<std::string>();
    // sun_path holds 108 bytes with the terminating NUL (abstract names: after the leading 0).
    if (o.unix_path.empty() || o.unix_path == "@" || o.unix_path.size() > 107)
      throw usage_error("--unix: expected a path or @name of 1..107 bytes, got '" + o.unix_path + "'");
    if (vm.count("port")) throw usage_error("--port does not apply to --unix");
  } else {
    if (!vm.count("port")) throw usage_error("--port is required");
    o.port = parse_unsigned<std::uint16_t>(vm["port"].as<std::string>(), "port", 1, 65535);
  }
  if (o.kind != transport::tls && (vm.count("tls-ca") || vm.count("tls-name") || vm.count("insecure")))
    throw usage_error("--tls-ca, --tls-name and --insecure need --tls");
  if (o.kind == transport::tls) {
    if (vm.count("tls-ca") == vm.count("insecure"))
      throw usage_error("--tls needs exactly one of --tls-ca FILE and --insecure");
    if (vm.count("tls-ca")) o.tls_ca = vm["tls-ca"].as<std::string>();
    o.tls_name = vm.count("tls-name") ? vm["tls-name"].as<std::string>() : o.host;
    o.tls_insecure = vm.count("insecure") != 0;
  }
  o.loss_timeout_s = parse_seconds(vm["loss-timeout"].as<std::string>(), "loss-timeout", 0.001);
  o.connections =
      parse_unsigned<std::uint32_t>(vm["connections"].as<std::string>(), "connections", 1, 100000);
  if (o.kind == transport::udp) {
    if (o.run_mode != mode::pingpong && o.run_mode != mode::stream)
      throw usage_error("--udp: modes pingpong and stream only (no connections to churn or hold)");
    // A datagram carries its 8-byte sequence number; 65507 is the most IPv4 UDP carries.
    o.size = parse_unsigned<std::uint32_t>(vm["size"].as<std::string>(), "size", 8, 65507);
  } else {
    o.size = parse_unsigned<std::uint32_t>(vm["size"].as<std::string>(), "size", 1, 16u << 20);
  }
  o.duration_s = parse_seconds(vm["duration"].as<std::string>(), "duration", 0.0);
  if (vm.count("count")) {
    if (o.run_mode == mode::idle) throw usage_error("--count does not apply to idle mode");
    o.count = parse_unsigned<std::uint64_t>(vm["count"].as<std::string>(), "count", 1,
                                            std::numeric_limits<std::uint64_t>::max() / 2);
  }
  o.threads = parse_unsigned<std::uint32_t>(vm["threads"].as<std::string>(), "threads", 1, 256);
  if (o.threads > o.connections) o.threads = o.connections;  // an empty loop measures nothing
  o.timeout_s = parse_seconds(vm["timeout"].as<std::string>(), "timeout", 0.001);
  o.seed = parse_unsigned<std::uint64_t>(vm["seed"].as<std::string>(), "seed", 0,
                                         std::numeric_limits<std::uint64_t>::max());
  o.source_addrs =
      parse_unsigned<std::uint32_t>(vm["source-addrs"].as<std::string>(), "source-addrs", 0, 65000);
  o.json = vm.count("json") != 0;
  o.ready_line = vm.count("ready-line") != 0;
  const auto progress = vm["progress"].as<std::string>();
  if (progress == "auto") o.progress = -1;
  else if (progress == "on") o.progress = 1;
  else if (progress == "off") o.progress = 0;
  else throw usage_error("--progress: expected auto, on or off, got '" + progress + "'");
  if (!o.count && o.duration_s <= 0.0 && o.run_mode != mode::idle)
    throw usage_error("--duration must be > 0 (or give --count)");
  return o;
}

}  // namespace echo::bench
