#pragma once

#include <optional>
#include <string_view>

namespace echo {

/// CPUs this process may use: its affinity mask, further limited by a cgroup CPU quota
/// (cgroup v2 cpu.max up the hierarchy, or v1 cfs_quota_us), rounded up; at least 1.
unsigned available_cpus();

/// "200000 100000" -> 2.0, "max 100000" -> nullopt (no limit); nullopt if unparsable.
std::optional<double> parse_cgroup_cpu_max(std::string_view text) noexcept;

}  // namespace echo
