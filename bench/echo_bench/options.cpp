#include "options.hpp"

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iostream>
#include <limits>

namespace echo::bench {
namespace {

namespace po = boost::program_options;

constexpr const char* exit_codes_text =
    "Exit codes:\n"
    "  0  every echo verified, no I/O error (probe: every attempt OK, or of the --expect class)\n"
    "  1  at least one mismatch, short or extra echo, reset, timeout or connect failure;\n"
    "     --find-rate: no rate met the target, or a trial failed; probe: an attempt of another class\n"
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

mode parse_mode(const std::string& text) {
  if (text == "pingpong") return mode::pingpong;
  if (text == "stream") return mode::stream;
  if (text == "churn") return mode::churn;
  if (text == "idle") return mode::idle;
  if (text == "probe") return mode::probe;
  throw usage_error("--mode: expected pingpong, stream, churn, idle or probe, got '" + text + "'");
}

double parse_rate(const std::string& text, const char* name) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(v) || v <= 0 || v > 1e9)
    throw usage_error("--" + std::string(name) + ": expected a rate in (0, 1e9] per second, got '" + text +
                      "'");
  return v;
}

// scheme://host:port, scheme://[v6]:port, unix://PATH (unix://@name: abstract).
probe_target parse_target(const std::string& text) {
  const auto bad = [&](const std::string& why) {
    return usage_error("--target: " + why + ", got '" + text +
                       "' (expected tcp|udp|tls://HOST:PORT or unix://PATH)");
  };
  probe_target t;
  t.text = text;
  const auto sep = text.find("://");
  if (sep == std::string::npos) throw bad("no scheme");
  t.scheme = text.substr(0, sep);
  const std::string rest = text.substr(sep + 3);
  if (t.scheme == "unix") {
    if (rest.empty() || rest == "@" || rest.size() > 107) throw bad("a path or @name of 1..107 bytes");
    t.host = rest;
    return t;
  }
  if (t.scheme != "tcp" && t.scheme != "udp" && t.scheme != "tls") throw bad("unknown scheme");
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) throw bad("no HOST:PORT");
  t.host = rest.substr(0, colon);
  if (t.host.front() == '[') {
    if (t.host.size() < 3 || t.host.back() != ']') throw bad("unbalanced [ ]");
    t.host = t.host.substr(1, t.host.size() - 2);
  }
  t.port = parse_unsigned<std::uint16_t>(rest.substr(colon + 1), "target port", 1, 65535);
  return t;
}

}  // namespace

// Accepts "5", "5s", "250ms", "100us", "1.5s", "2m"; returns seconds.
double parse_duration(const std::string& text, const char* name, double min) {
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
  else if (unit == "us") scale = 1e-6;
  else if (unit == "m") scale = 60;
  if (used == 0 || scale == 0 || !std::isfinite(v) || v * scale < min || v * scale > 86400)
    throw usage_error("--" + std::string(name) + ": expected a duration like 5s, 250ms, 2m (>= " +
                      fmt::format("{:g}", min) + " s), got '" + text + "'");
  return v * scale;
}

latency_target parse_latency_target(const std::string& text) {
  const auto lt = text.find('<');
  const auto bad = [&] {
    return usage_error(
        "--find-rate: expected a target like 'p99<1ms' (p50, p90, p99, p99.9, p99.99, p99.999 or "
        "max, then < and a duration), got '" +
        text + "'");
  };
  if (lt == std::string::npos) throw bad();
  latency_target t;
  t.text = text;
  t.label = text.substr(0, lt);
  if (t.label == "max") t.quantile = 1.0;
  else if (t.label == "p50") t.quantile = 0.50;
  else if (t.label == "p90") t.quantile = 0.90;
  else if (t.label == "p99") t.quantile = 0.99;
  else if (t.label == "p99.9") t.quantile = 0.999;
  else if (t.label == "p99.99") t.quantile = 0.9999;
  else if (t.label == "p99.999") t.quantile = 0.99999;
  else throw bad();
  try {
    t.limit_ns = parse_duration(text.substr(lt + 1), "find-rate", 1e-6) * 1e9;
  } catch (const usage_error&) {
    throw bad();
  }
  return t;
}

namespace {

// The open-loop and reporting options of a load run (not probe).
void parse_load_figures(const po::variables_map& vm, options& o) {
  if (vm.count("rate") && vm.count("rate-per-conn"))
    throw usage_error("--rate and --rate-per-conn exclude each other");
  if (vm.count("rate")) o.rate = parse_rate(vm["rate"].as<std::string>(), "rate");
  if (vm.count("rate-per-conn"))
    o.rate = parse_rate(vm["rate-per-conn"].as<std::string>(), "rate-per-conn") * o.connections;
  const auto arrivals = vm["arrival"].as<std::string>();
  if (arrivals == "uniform") o.arrivals = arrival::uniform;
  else if (arrivals == "poisson") o.arrivals = arrival::poisson;
  else throw usage_error("--arrival: expected uniform or poisson, got '" + arrivals + "'");
  o.warmup_s = parse_duration(vm["warmup"].as<std::string>(), "warmup", 0.0);
  if (vm.count("interval")) o.interval_s = parse_duration(vm["interval"].as<std::string>(), "interval", 0.01);
  if (vm.count("histogram-out")) o.histogram_out = vm["histogram-out"].as<std::string>();
  if (vm.count("plot")) o.plot_out = vm["plot"].as<std::string>();
  if (vm.count("find-rate")) o.find_rate = parse_latency_target(vm["find-rate"].as<std::string>());
  const bool open = o.rate > 0 || o.find_rate;
  if (open && o.run_mode != mode::pingpong)
    throw usage_error("--rate, --rate-per-conn and --find-rate need --mode pingpong");
  if (open && o.count) throw usage_error("open loop runs for --duration, not --count");
  if (o.find_rate && o.rate <= 0) o.rate = 1000;  // the search's first trial
  if (o.interval_s > 0 && o.kind == transport::udp)
    throw usage_error("--interval is for TCP, TLS, Unix and MPTCP");
  if (o.warmup_s > 0 && o.count) throw usage_error("--warmup needs a timed run (--duration), not --count");
  if (o.run_mode == mode::idle && (o.warmup_s > 0 || o.interval_s > 0))
    throw usage_error("--warmup and --interval do not apply to idle mode");
}

options parse_probe(const po::variables_map& vm, options& o) {
  if (!vm.count("target")) throw usage_error("--mode probe needs --target URL");
  for (const char* name : {"port", "unix", "tls", "udp", "mptcp", "rate-per-conn", "find-rate", "interval",
                           "histogram-out", "plot"})
    if (vm.count(name))
      throw usage_error("--" + std::string(name) + " does not apply to --mode probe (see --target)");
  o.target = parse_target(vm["target"].as<std::string>());
  const auto& t = *o.target;
  o.kind = t.scheme == "tcp"   ? transport::tcp
           : t.scheme == "udp" ? transport::udp
           : t.scheme == "tls" ? transport::tls
                               : transport::unix_stream;
  o.host = t.host;
  o.port = t.port;
  if (o.kind == transport::unix_stream) o.unix_path = t.host;
  if (o.kind == transport::tls) {
    if (vm.count("tls-ca") && vm.count("insecure"))
      throw usage_error("--tls-ca and --insecure exclude each other");
    if (vm.count("tls-ca")) o.tls_ca = vm["tls-ca"].as<std::string>();
    o.tls_name = vm.count("tls-name") ? vm["tls-name"].as<std::string>() : o.host;
    // A probe asks whether the path works, not who answers: without a CA it skips verification.
    o.tls_insecure = !vm.count("tls-ca");
  } else if (vm.count("tls-ca") || vm.count("tls-name") || vm.count("insecure")) {
    throw usage_error("--tls-ca, --tls-name and --insecure need a tls:// target");
  }
  o.size = parse_unsigned<std::uint32_t>(vm["size"].as<std::string>(), "size", 1,
                                         o.kind == transport::udp ? 65507u : (16u << 20));
  o.count = vm.count("count")
                ? parse_unsigned<std::uint64_t>(vm["count"].as<std::string>(), "count", 1, 1000000)
                : std::uint64_t{1};
  o.rate = vm.count("rate") ? parse_rate(vm["rate"].as<std::string>(), "rate") : 10.0;
  o.timeout_s = parse_duration(vm["timeout"].as<std::string>(), "timeout", 0.001);
  o.seed = parse_unsigned<std::uint64_t>(vm["seed"].as<std::string>(), "seed", 0,
                                         std::numeric_limits<std::uint64_t>::max());
  o.json = true;
  if (vm.count("expect")) {
    o.expect_class = vm["expect"].as<std::string>();
    static constexpr const char* classes[] = {"OK",  "REFUSED", "TIMEOUT",  "DNS",        "RESET",
                                              "TLS", "SHORT",   "MISMATCH", "UNREACHABLE"};
    if (std::find(std::begin(classes), std::end(classes), o.expect_class) == std::end(classes))
      throw usage_error(
          "--expect: expected OK, REFUSED, TIMEOUT, DNS, RESET, TLS, SHORT, MISMATCH or UNREACHABLE, got '" +
          o.expect_class + "'");
  }
  return o;
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
    case mode::probe: return "probe";
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
      "       echo-bench --unix PATH [--mode ...] [options]\n"
      "       echo-bench --port P --rate R [--arrival poisson] [--warmup D] [options]   (open loop)\n"
      "       echo-bench --mode probe --target tcp://HOST:PORT [--count N] [--rate R] [--expect "
      "CLASS]\n\nOptions");
  desc.add_options()("help,h", "print this help and exit")("version", "print the version and exit")(
      "mode,m", po::value<std::string>()->default_value("pingpong"),
      "pingpong: send S bytes, await the whole echo, repeat;\n"
      "stream: write and read concurrently (MB/s);\n"
      "churn: connect, echo S bytes, close, repeat (conn/s);\n"
      "idle: open C connections, echo one message each, hold for --duration;\n"
      "probe: --count attempts at --target (connect, echo, verify, close), a JSON line each")(
      "host", po::value<std::string>()->default_value("127.0.0.1"),
      "server address (IPv4 or IPv6 literal, or a name to resolve)")("port,p", po::value<std::string>(),
                                                                     "server port (required)")(
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
      "falls back to plain TCP")(
      "rate", po::value<std::string>(),
      "open loop (pingpong): messages per second over all connections, sent on schedule\n"
      "whatever the replies; probe: attempts per second (default 10)")(
      "rate-per-conn", po::value<std::string>(), "open loop: messages per second per connection")(
      "arrival", po::value<std::string>()->default_value("uniform"), "open loop: uniform or poisson")(
      "warmup", po::value<std::string>()->default_value("0s"),
      "run this long first and leave it out of every figure")(
      "interval", po::value<std::string>(), "print a line (--json: an object) per interval, e.g. 1s")(
      "histogram-out", po::value<std::string>(),
      "write the latency histogram (corrected in open loop) to FILE in HdrHistogram's .hgrm format")(
      "plot", po::value<std::string>(), "write latency by percentile to FILE.svg")(
      "find-rate", po::value<std::string>(),
      "search the highest open-loop rate that meets a target such as 'p99<1ms' (each trial\n"
      "runs --warmup + --duration; --rate is the first rate tried)")(
      "target", po::value<std::string>(), "probe: tcp://HOST:PORT, udp://, tls://, unix://PATH")(
      "expect", po::value<std::string>(),
      "probe: exit 0 when every attempt ends in this class (OK REFUSED TIMEOUT DNS RESET TLS\n"
      "SHORT MISMATCH UNREACHABLE)");

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
  if (o.run_mode == mode::probe) return parse_probe(vm, o);
  for (const char* name : {"target", "expect"})
    if (vm.count(name)) throw usage_error("--" + std::string(name) + " needs --mode probe");
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
  o.loss_timeout_s = parse_duration(vm["loss-timeout"].as<std::string>(), "loss-timeout", 0.001);
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
  o.duration_s = parse_duration(vm["duration"].as<std::string>(), "duration", 0.0);
  if (vm.count("count")) {
    if (o.run_mode == mode::idle) throw usage_error("--count does not apply to idle mode");
    o.count = parse_unsigned<std::uint64_t>(vm["count"].as<std::string>(), "count", 1,
                                            std::numeric_limits<std::uint64_t>::max() / 2);
  }
  o.threads = parse_unsigned<std::uint32_t>(vm["threads"].as<std::string>(), "threads", 1, 256);
  if (o.threads > o.connections) o.threads = o.connections;  // an empty loop measures nothing
  o.timeout_s = parse_duration(vm["timeout"].as<std::string>(), "timeout", 0.001);
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
  parse_load_figures(vm, o);
  return o;
}

}  // namespace echo::bench
