#include "report.hpp"

#include <fmt/format.h>

namespace echo::bench {
namespace {

// Late by more than this at p99 counts as behind schedule, whatever the rate: below it,
// a shared machine's scheduling noise alone would raise the flag.
constexpr double behind_lag_ns = 10e6;

std::string percentiles_json(const histogram& h) {
  return fmt::format(
      R"({{"samples":{},"p50_us":{:.2f},"p90_us":{:.2f},"p99_us":{:.2f},"p999_us":{:.2f},"max_us":{:.2f}}})",
      h.count(), h.quantile_ns(0.50) / 1e3, h.quantile_ns(0.90) / 1e3, h.quantile_ns(0.99) / 1e3,
      h.quantile_ns(0.999) / 1e3, static_cast<double>(h.max_ns()) / 1e3);
}

std::string percentiles_row(const char* name, const histogram& h) {
  return fmt::format("  {:<14}{:>14.1f}{:>14.1f}{:>14.1f}{:>14.1f}\n", name, h.quantile_ns(0.50) / 1e3,
                     h.quantile_ns(0.99) / 1e3, h.quantile_ns(0.999) / 1e3,
                     static_cast<double>(h.max_ns()) / 1e3);
}

}  // namespace

report::report(const options& opts, const run_result& result, double elapsed_s)
    : opts_(opts), result_(result), elapsed_s_(elapsed_s) {
  const double t = elapsed_s > 0 ? elapsed_s : 1e-9;
  msgs_per_s_ = static_cast<double>(result.msgs) / t;
  // MB/s counts echoed bytes once (not both directions), 10^6 bytes per MB.
  mb_per_s_ = static_cast<double>(result.bytes) / t / 1e6;
  conns_per_s_ = static_cast<double>(result.conns) / t;
}

std::string report::json() const {
  const auto& e = result_.errors;
  const auto& h = result_.latency;
  return fmt::format(
      R"({{"mode":"{}","transport":"{}","host":"{}","port":{},"connections":{},"size":{},"threads":{},)"
      R"("duration_s":{:.6f},"msgs":{},"bytes":{},"conns":{},"msgs_per_s":{:.1f},"mb_per_s":{:.3f},)"
      R"("conns_per_s":{:.1f},"p50_us":{:.2f},"p90_us":{:.2f},"p99_us":{:.2f},"p999_us":{:.2f},"max_us":{:.2f},)"
      R"("latency_samples":{},"errors":{{"total":{},"connect":{},"reset":{},"timeout":{},)"
      R"("mismatch":{},"short_echo":{},"extra_bytes":{},"io":{}}}{}{}}})",
      to_string(opts_.run_mode), to_string(opts_.kind), target_host(), opts_.port, opts_.connections,
      opts_.size, opts_.threads, elapsed_s_, result_.msgs, result_.bytes, result_.conns, msgs_per_s_,
      mb_per_s_, conns_per_s_, h.quantile_ns(0.50) / 1e3, h.quantile_ns(0.90) / 1e3,
      h.quantile_ns(0.99) / 1e3, h.quantile_ns(0.999) / 1e3, static_cast<double>(h.max_ns()) / 1e3, h.count(),
      e.total(), e.connect, e.reset, e.timeout, e.mismatch, e.short_echo, e.extra_bytes, e.io,
      datagrams_json(), extra_json());
}

bool report::behind_schedule() const noexcept {
  const auto& s = result_.schedule;
  return opts_.open_loop() && (s.unsent > 0 || s.lag.quantile_ns(0.99) > behind_lag_ns);
}

std::string report::extra_json() const {
  std::string out;
  if (opts_.warmup_s > 0) out += fmt::format(R"(,"warmup_s":{:.3f})", opts_.warmup_s);
  if (opts_.open_loop()) {
    const auto& u = result_.uncorrected;
    const auto& s = result_.schedule;
    out += fmt::format(
        R"(,"open_loop":{{"target_rate":{:.1f},"arrival":"{}","latency":"corrected"}},"uncorrected":{})"
        R"(,"schedule":{{"sent":{},"unsent":{},"lag_p50_us":{:.2f},"lag_p99_us":{:.2f},"lag_max_us":{:.2f},)"
        R"("behind":{},"client_cpu_wait_ms":{:.1f}}})",
        opts_.rate, opts_.arrivals == arrival::poisson ? "poisson" : "uniform", percentiles_json(u), s.sent,
        s.unsent, s.lag.quantile_ns(0.5) / 1e3, s.lag.quantile_ns(0.99) / 1e3,
        static_cast<double>(s.lag.max_ns()) / 1e3, behind_schedule(),
        static_cast<double>(s.cpu_wait_ns) / 1e6);
  }
  if (result_.connect.count() > 0) out += R"(,"connect":)" + percentiles_json(result_.connect);
  if (result_.first_byte.count() > 0) out += R"(,"first_byte":)" + percentiles_json(result_.first_byte);
  return out;
}

std::string report::interval_line(const options& opts, std::size_t index, const interval_figures& f,
                                  bool warmup) {
  const double t = opts.interval_s;
  const double rate = static_cast<double>(f.msgs) / t;
  const double mb = static_cast<double>(f.bytes) / t / 1e6;
  const auto& h = f.latency;
  if (opts.json)
    return fmt::format(
        R"({{"interval":{},"t_s":{:.3f},"warmup":{},"msgs":{},"msgs_per_s":{:.1f},"mb_per_s":{:.3f},)"
        R"("p50_us":{:.2f},"p99_us":{:.2f},"p999_us":{:.2f},"errors":{}}})"
        "\n",
        index, static_cast<double>(index) * t, warmup, f.msgs, rate, mb, h.quantile_ns(0.5) / 1e3,
        h.quantile_ns(0.99) / 1e3, h.quantile_ns(0.999) / 1e3, f.errors);
  return fmt::format(
      "  [{:>7.2f}s]{} {:>10.0f} msgs/s {:>9.2f} MB/s  p50 {:>9.1f}  p99 {:>9.1f}  p99.9 {:>9.1f} us  errors "
      "{}\n",
      static_cast<double>(index) * t, warmup ? " warmup" : "", rate, mb, h.quantile_ns(0.5) / 1e3,
      h.quantile_ns(0.99) / 1e3, h.quantile_ns(0.999) / 1e3, f.errors);
}

std::string report::target_host() const {
  return opts_.kind == transport::unix_stream ? "unix:" + opts_.unix_path : opts_.host;
}

std::string report::datagrams_json() const {
  if (opts_.kind != transport::udp) return {};
  const auto& d = result_.datagrams;
  return fmt::format(R"(,"datagrams":{{"sent":{},"lost":{},"duplicated":{},"reordered":{},"late":{}}})",
                     d.sent, d.lost, d.duplicated, d.reordered, d.late);
}

std::string report::table() const {
  const auto& e = result_.errors;
  const auto& h = result_.latency;
  std::string out = fmt::format(
      "echo-bench {}{}{} {}  {} {}  size {} B  threads {}\n",
      opts_.kind == transport::tcp ? "" : std::string(to_string(opts_.kind)) + " ",
      opts_.open_loop() ? "open-loop " : "", to_string(opts_.run_mode),
      opts_.kind == transport::unix_stream ? target_host() : fmt::format("{}:{}", opts_.host, opts_.port),
      opts_.kind == transport::udp ? "sockets" : "connections", opts_.connections, opts_.size, opts_.threads);
  out += fmt::format("  {:<14}{:>14.3f}\n", "elapsed s", elapsed_s_);
  out += fmt::format("  {:<14}{:>14}\n", "messages", result_.msgs);
  out += fmt::format("  {:<14}{:>14.0f}\n", "msgs/s", msgs_per_s_);
  out += fmt::format("  {:<14}{:>14.2f}\n", "MB/s", mb_per_s_);
  if (opts_.run_mode == mode::churn || opts_.run_mode == mode::idle) {
    out += fmt::format("  {:<14}{:>14}\n", "connections", result_.conns);
    out += fmt::format("  {:<14}{:>14.0f}\n", "conn/s", conns_per_s_);
  }
  if (opts_.open_loop()) {
    // Corrected first: it is the figure a user of the service would have seen.
    const auto& u = result_.uncorrected;
    const auto& s = result_.schedule;
    out += fmt::format("  {:<14}{:>14.0f}  ({})\n", "target msgs/s", opts_.rate,
                       opts_.arrivals == arrival::poisson ? "poisson" : "uniform");
    out += fmt::format("  {:<14}{:>14}{:>14}\n", "latency us", "corrected", "uncorrected");
    for (const auto& [name, q] : {std::pair{"p50", 0.5},
                                  {"p90", 0.9},
                                  {"p99", 0.99},
                                  {"p99.9", 0.999},
                                  {"p99.99", 0.9999},
                                  {"p99.999", 0.99999}})
      out +=
          fmt::format("  {:<14}{:>14.1f}{:>14.1f}\n", name, h.quantile_ns(q) / 1e3, u.quantile_ns(q) / 1e3);
    out += fmt::format("  {:<14}{:>14.1f}{:>14.1f}\n", "max", static_cast<double>(h.max_ns()) / 1e3,
                       static_cast<double>(u.max_ns()) / 1e3);
    out += fmt::format("  {:<14}{:>14.1f}  (p99 {:.1f}, max {:.1f}; the client waited {:.1f} ms for a CPU)\n",
                       "send lag p50", s.lag.quantile_ns(0.5) / 1e3, s.lag.quantile_ns(0.99) / 1e3,
                       static_cast<double>(s.lag.max_ns()) / 1e3, static_cast<double>(s.cpu_wait_ns) / 1e6);
    if (behind_schedule())
      out += fmt::format(
          "  BEHIND SCHEDULE: messages went out up to {:.1f} ms late (p99 {:.1f} ms); {} due were never "
          "sent,\n"
          "  so {:.0f} msgs/s were sent of the {:.0f} asked for\n",
          static_cast<double>(s.lag.max_ns()) / 1e6, s.lag.quantile_ns(0.99) / 1e6, s.unsent,
          static_cast<double>(s.sent) / (elapsed_s_ > 0 ? elapsed_s_ : 1e-9), opts_.rate);
  } else if (h.count() > 0) {
    out += fmt::format("  {:<14}{:>14.1f}\n", "p50 us", h.quantile_ns(0.50) / 1e3);
    out += fmt::format("  {:<14}{:>14.1f}\n", "p99 us", h.quantile_ns(0.99) / 1e3);
    out += fmt::format("  {:<14}{:>14.1f}\n", "p99.9 us", h.quantile_ns(0.999) / 1e3);
    out += fmt::format("  {:<14}{:>14.1f}\n", "max us", static_cast<double>(h.max_ns()) / 1e3);
  }
  if (result_.connect.count() > 0 || result_.first_byte.count() > 0)
    out += fmt::format("  {:<14}{:>14}{:>14}{:>14}{:>14}\n", "us", "p50", "p99", "p99.9", "max");
  if (result_.connect.count() > 0) out += percentiles_row("connect", result_.connect);
  if (result_.first_byte.count() > 0) out += percentiles_row("first byte", result_.first_byte);
  if (opts_.kind == transport::udp) {
    const auto& d = result_.datagrams;
    out += fmt::format("  {:<14}{:>14}\n", "sent", d.sent);
    out += fmt::format("  {:<14}{:>14}\n", "lost", d.lost);
    out += fmt::format("  {:<14}{:>14}\n", "duplicated", d.duplicated);
    out += fmt::format("  {:<14}{:>14}\n", "reordered", d.reordered);
    out += fmt::format("  {:<14}{:>14}\n", "late", d.late);
  }
  out += fmt::format("  {:<14}{:>14}", "errors", e.total());
  if (e.total() > 0)
    out += fmt::format("  (connect {}, reset {}, timeout {}, mismatch {}, short {}, extra {}, io {})",
                       e.connect, e.reset, e.timeout, e.mismatch, e.short_echo, e.extra_bytes, e.io);
  out += "\n";
  return out;
}

}  // namespace echo::bench
