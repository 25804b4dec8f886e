#pragma once
// Internal header of echo::core: not installed, not part of the public API.

namespace echo::detail {

class metrics_text;

/// Appends the standard process metrics every Prometheus client library exports
/// (process_cpu_seconds_total, process_start_time_seconds, process_open_fds,
/// process_max_fds, process_resident_memory_bytes, process_virtual_memory_bytes), read from
/// /proc and getrusage/getrlimit for this process. A figure that cannot be read is left out.
void write_process_metrics(metrics_text& out);

}  // namespace echo::detail
