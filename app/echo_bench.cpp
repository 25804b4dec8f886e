// echo-bench: a verifying load generator for TCP echo servers. The work lives in
// bench/echo_bench/; this main only maps outcomes to exit codes (0 ok, 1 errors
// seen during the run, 2 usage error).
#include "hgrm_writer.hpp"
#include "latency_plot.hpp"
#include "options.hpp"
#include "prober.hpp"
#include "rate_search.hpp"
#include "report.hpp"
#include "runner.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

namespace {

// --histogram-out and --plot: the latency distribution in files, after the report.
void write_distribution(const echo::bench::options& opts, const echo::bench::run_result& result) {
  if (!opts.histogram_out.empty()) echo::bench::hgrm_writer(result.latency).write(opts.histogram_out);
  if (opts.plot_out.empty()) return;
  std::vector<echo::bench::latency_plot::series> lines;
  if (opts.open_loop()) {
    lines.push_back({"corrected", "#c0392b", &result.latency});
    lines.push_back({"uncorrected", "#2e86c1", &result.uncorrected});
  } else {
    lines.push_back({"latency", "#2e86c1", &result.latency});
  }
  const std::string title = opts.open_loop()
                                ? fmt::format("echo-bench {} open loop, {:g} msgs/s, {} connections, {} B",
                                              to_string(opts.kind), opts.rate, opts.connections, opts.size)
                                : fmt::format("echo-bench {} {}, {} connections, {} B", to_string(opts.kind),
                                              to_string(opts.run_mode), opts.connections, opts.size);
  echo::bench::latency_plot(title, std::move(lines)).write(opts.plot_out);
}

int main_impl(int argc, char* argv[]) {
  const auto opts = echo::bench::parse_options(argc, argv);
  if (!opts) return 0;  // --help / --version
  if (opts->run_mode == echo::bench::mode::probe) {
    std::signal(SIGPIPE, SIG_IGN);
    return echo::bench::prober(*opts).run();
  }
  if (opts->find_rate) {
    echo::bench::rate_search search(*opts);
    const int code = search.run();
    // The files show the best rate that met the target.
    if (code == 0) write_distribution(search.best_options(), search.best());
    return code;
  }
  echo::bench::runner r(*opts);
  const auto result = r.run();
  const echo::bench::report rep(*opts, result, r.elapsed_s());
  std::cout << (opts->json ? rep.json() + "\n" : rep.table()) << std::flush;
  write_distribution(*opts, result);
  return result.errors.total() == 0 && (result.msgs > 0 || opts->run_mode == echo::bench::mode::idle) ? 0 : 1;
}

}  // namespace

int main(int argc, char* argv[]) {
  try {
    return main_impl(argc, argv);
  } catch (const echo::bench::usage_error& e) {
    std::fprintf(stderr, "echo-bench: %s (see --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo-bench: %s\n", e.what());
    return 1;
  }
}
