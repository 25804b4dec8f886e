#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "unique_fd.hpp"

namespace echo::test {

/// A child process with stdout on a pipe (to read the ready line) and stderr in an unlinked
/// temp file. Every wait has a deadline; the destructor kills a child that is still running.
class child_process {
 public:
  /// `inherit`: descriptors the child gets, each pair {ours, theirs} (for example a
  /// listening socket as descriptor 3, as a service manager passes it). The child starts with
  /// default signal dispositions and `blocked` as its signal mask, whatever this process's
  /// thread has (a sanitizer's runtime may be blocking signals at that moment).
  explicit child_process(std::vector<std::string> argv, const std::vector<std::pair<int, int>>& inherit = {},
                         const std::vector<int>& blocked = {});
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process();

  /// Next line of stdout, or nullopt at EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  void signal(int sig);
  /// Exit code (128+N if killed by signal N), or nullopt if still running at the deadline.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  /// Everything written to stderr so far.
  std::string stderr_text() const;
  pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
  unique_fd pidfd_;
  unique_fd out_fd_;
  unique_fd err_fd_;
  std::string out_buffer_;
  std::optional<int> status_;
};

/// Path of the echo-svc binary under test (set by CMake).
std::string echo_svc_path();

}  // namespace echo::test
