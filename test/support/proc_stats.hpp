#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace echo::test {

/// Observables of another process from /proc (the server under test). Each throws
/// std::runtime_error when it cannot be read (the process is gone, say).

/// Entries in /proc/PID/fd.
std::size_t open_fds(pid_t pid);
/// VmRSS of PID in KiB.
std::uint64_t rss_kib(pid_t pid);
/// utime + stime of PID in clock ticks.
std::uint64_t cpu_ticks(pid_t pid);
double ticks_to_seconds(std::uint64_t ticks);

}  // namespace echo::test
