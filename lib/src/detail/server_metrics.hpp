#pragma once
// Internal header of echo::core: not installed, not part of the public API.

namespace echo {
class server;
}

namespace echo::detail {

class metrics_text;

/// Appends echo-svc's own metrics (prefix echo_): build info, the accept-side counters of
/// each listener (labelled listener="tcp://ADDR:PORT"), and the server-wide session
/// counters: closes by reason, bytes each way; the faults fired per listener and fault. Reads
/// relaxed atomics only, so it may run on any thread while the server serves.
void write_server_metrics(metrics_text& out, const server& srv);

}  // namespace echo::detail
