#pragma once

namespace echo {

/// Process exit codes (BSD sysexits.h values where one fits), documented in --help and README.
enum class exit_code : int {
  ok = 0,             ///< clean run, including a graceful shutdown on the first SIGINT/SIGTERM
  failure = 1,        ///< generic failure not covered below
  usage = 64,         ///< EX_USAGE: bad command line
  unavailable = 69,   ///< EX_UNAVAILABLE: cannot listen (address in use, not bindable, ...)
  software = 70,      ///< EX_SOFTWARE: internal error (a bug)
  os_error = 71,      ///< EX_OSERR: the OS refused a resource at start-up (threads, fds)
  config = 78,        ///< EX_CONFIG: bad environment variable or config file
  signal_base = 128,  ///< a second signal aborts the drain: exit 128 + signal number
};

constexpr int to_int(exit_code c) noexcept { return static_cast<int>(c); }

}  // namespace echo
