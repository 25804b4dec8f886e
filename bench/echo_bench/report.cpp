#include "report.hpp"

#include <fmt/format.h>

namespace echo::bench {

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
      R"("conns_per_s":{:.1f},"p50_us":{:.2f},"p99_us":{:.2f},"p999_us":{:.2f},"max_us":{:.2f},)"
      R"("latency_samples":{},"errors":{{"total":{},"connect":{},"reset":{},"timeout":{},)"
      R"("mismatch":{},"short_echo":{},"extra_bytes":{},"io":{}}}{}}})",
      to_string(opts_.run_mode), to_string(opts_.kind), target_host(), opts_.port, opts_.connections,
      opts_.size, opts_.threads, elapsed_s_, result_.msgs, result_.bytes, result_.conns, msgs_per_s_,
      mb_per_s_, conns_per_s_, h.quantile_ns(0.50) / 1e3, h.quantile_ns(0.99) / 1e3,
      h.quantile_ns(0.999) / 1e3, static_cast<double>(h.max_ns()) / 1e3, h.count(), e.total(), e.connect,
      e.reset, e.timeout, e.mismatch, e.short_echo, e.extra_bytes, e.io, datagrams_json());
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
      "echo-bench {}{} {}  {} {}  size {} B  threads {}\n",
      opts_.kind == transport::tcp ? "" : std::string(to_string(opts_.kind)) + " ", to_string(opts_.run_mode),
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
  if (h.count() > 0) {
    out += fmt::format("  {:<14}{:>14.1f}\n", "p50 us", h.quantile_ns(0.50) / 1e3);
    out += fmt::format("  {:<14}{:>14.1f}\n", "p99 us", h.quantile_ns(0.99) / 1e3);
    out += fmt::format("  {:<14}{:>14.1f}\n", "p99.9 us", h.quantile_ns(0.999) / 1e3);
    out += fmt::format("  {:<14}{:>14.1f}\n", "max us", static_cast<double>(h.max_ns()) / 1e3);
  }
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
