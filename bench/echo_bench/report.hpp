#pragma once

#include "interval_log.hpp"
#include "options.hpp"
#include "run_result.hpp"

#include <string>

namespace echo::bench {

/// The figures of one finished run, formatted for people or for machines.
class report {
 public:
  report(const options& opts, const run_result& result, double elapsed_s);

  /// One JSON object on one line (the schema bench/run reads).
  [[nodiscard]] std::string json() const;
  /// A small human-readable table.
  [[nodiscard]] std::string table() const;

  /// Open loop: true when messages went out late or not at all (see schedule_counts).
  [[nodiscard]] bool behind_schedule() const noexcept;

  /// One --interval line (text, or a JSON object with --json), newline included.
  static std::string interval_line(const options& opts, std::size_t index, const interval_figures& f,
                                   bool warmup);

 private:
  /// --host, or unix:PATH for a Unix socket.
  [[nodiscard]] std::string target_host() const;
  /// UDP: the "datagrams" member with its leading comma; otherwise empty.
  [[nodiscard]] std::string datagrams_json() const;
  /// The members added by open loop, connect and first-byte timing, with leading commas.
  [[nodiscard]] std::string extra_json() const;

  const options& opts_;
  const run_result& result_;
  double elapsed_s_;
  double msgs_per_s_;
  double mb_per_s_;
  double conns_per_s_;
};

}  // namespace echo::bench
