#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace echo::bench {

/// probe: single verified attempts against a --target URL, one JSON line each.
enum class mode { pingpong, stream, churn, idle, probe };

/// When an open-loop connection sends: evenly spaced, or a Poisson process (exponential gaps).
enum class arrival { uniform, poisson };

/// A latency bound, as in --find-rate 'p99<1ms'.
struct latency_target {
  std::string text;   ///< as given, for the report
  std::string label;  ///< p50, p99, p99.9 ... or max
  double quantile = 0.99;
  double limit_ns = 0;
};

/// --target scheme://host:port (unix://PATH): where a probe goes and over what.
struct probe_target {
  std::string text;  ///< as given
  std::string scheme;
  std::string host;  ///< a name or an address literal; unix: the path
  std::uint16_t port = 0;
};

/// What carries the echo: a TCP, MPTCP or Unix stream, TLS over TCP, or UDP datagrams.
/// (`unix` alone is a macro under GNU extensions.)
enum class transport { tcp, tls, unix_stream, udp, mptcp };

/// Everything one echo-bench run needs, validated; plain data.
struct options {
  mode run_mode = mode::pingpong;
  transport kind = transport::tcp;
  std::string host = "127.0.0.1";
  std::string unix_path;  ///< unix_stream: a path, or @name for the abstract namespace
  std::string tls_ca;     ///< tls: CA file the server's certificate must chain to
  std::string tls_name;   ///< tls: name (or IP) checked in the certificate; default: --host
  bool tls_insecure = false;
  double loss_timeout_s = 1.0;  ///< udp: a datagram not echoed within this is lost
  std::uint16_t port = 0;
  std::uint32_t connections = 1;
  std::uint32_t size = 64;
  double duration_s = 5.0;             ///< ignored when count is set (except idle: hold time)
  std::optional<std::uint64_t> count;  ///< total messages (churn: total connections)
  std::uint32_t threads = 1;
  double timeout_s = 5.0;  ///< connect / no-progress limit per connection
  std::uint64_t seed = 1;
  std::uint32_t source_addrs = 0;  ///< churn: 127.0.0.x sources to rotate; 0 = auto
  bool json = false;
  bool ready_line = false;  ///< print "established N" once all are connected
  int progress = -1;        ///< -1 auto (terminal and run > 2 s), 0 off, 1 on

  /// Open loop: messages per second over all connections; 0 is closed loop. Probe:
  /// attempts per second.
  double rate = 0;
  arrival arrivals = arrival::uniform;
  double warmup_s = 0;    ///< excluded from every figure; the run lasts warmup + duration
  double interval_s = 0;  ///< 0: no interval lines
  std::string histogram_out;
  std::string plot_out;
  std::optional<latency_target> find_rate;
  std::optional<probe_target> target;
  std::string expect_class;  ///< probe: every attempt must end in this class (exit 0)

  [[nodiscard]] bool open_loop() const noexcept { return rate > 0 && run_mode == mode::pingpong; }
};

/// A command line that cannot be run; main prints it on one line and exits 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Parses argv. Returns nullopt after printing --help or --version to stdout.
std::optional<options> parse_options(int argc, const char* const argv[]);

const char* to_string(mode m) noexcept;
const char* to_string(transport t) noexcept;

/// Parses "5s", "250ms", "2m", "100us" (seconds); usage_error names `name` on failure.
double parse_duration(const std::string& text, const char* name, double min);
/// Parses 'p99<1ms' (also p50, p90, p99.9, p99.99, p99.999, max; '<' only).
latency_target parse_latency_target(const std::string& text);

}  // namespace echo::bench
