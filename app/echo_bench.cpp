// echo-bench: a verifying load generator for TCP echo servers. The work lives in
// bench/echo_bench/; this main only maps outcomes to exit codes (0 ok, 1 errors
// seen during the run, 2 usage error).
#include "options.hpp"
#include "report.hpp"
#include "runner.hpp"

#include <cstdio>
#include <exception>
#include <iostream>

namespace {

int main_impl(int argc, char* argv[]) {
  const auto opts = echo::bench::parse_options(argc, argv);
  if (!opts) return 0;  // --help / --version
  echo::bench::runner r(*opts);
  const auto result = r.run();
  const echo::bench::report rep(*opts, result, r.elapsed_s());
  std::cout << (opts->json ? rep.json() + "\n" : rep.table()) << std::flush;
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
