#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace echo::test {

/// A real echo-svc process started with `args` (port 0 on 127.0.0.1 unless given), its
/// ready line read and parsed. Throws if no ready line comes within the deadline.
struct echo_svc_process {
  explicit echo_svc_process(std::vector<std::string> args = {});

  std::unique_ptr<child_process> child;
  std::string ready_line;
  std::string address;  ///< text before the last ':'
  std::uint16_t port = 0;
};

/// How a run of echo-svc that ends by itself ended.
struct exit_outcome {
  int code;
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};

/// Runs echo-svc with `args` and the extra environment `env` ("NAME=VALUE") until it exits
/// by itself (within 10 s; fails the test otherwise).
exit_outcome run_to_exit(std::vector<std::string> args, const std::vector<std::string>& env = {});

/// Parses "listening on ADDR:PORT"; returns false if the line does not match.
bool parse_ready_line(const std::string& line, std::string& address, std::uint16_t& port);

}  // namespace echo::test
