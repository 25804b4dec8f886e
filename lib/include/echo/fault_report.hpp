#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace echo {

/// What one fault did to one connection, for the connection's record.
///
/// How the admin code reads it: a stream session's `fault_effects()` (echo_session, on the
/// session's executor: call it from the session's own close path, e.g. where do_close
/// records the connection's end) returns one entry per fault that acted on the connection,
/// in the order of the fault set (one a live change replaced keeps its entry); a
/// connection no fault touched returns an empty vector and costs nothing. `fault` is the canonical SPEC
/// (format_fault_spec), so the same seed and connection order give the same records, byte for byte.
struct fault_effect {
  std::string fault;  ///< "slice:size=1-64", "reset-after:bytes=4096"
  /// What it did, short and stable: "sizes 1-64 in 37 writes", "reset at byte 4096",
  /// "fin and close at byte 100", "delayed 3 echoes 45ms..55ms", "corrupt offsets 17,901" (integrity
  /// faults list every offset, up to a bound, then "+N more").
  std::string what;

  friend bool operator==(const fault_effect&, const fault_effect&) = default;
};

/// How many connections one fault kind acted on at one listener (`echo::server::
/// faults_fired()`): a connection counts once per fault, when the fault first changes its
/// behaviour; a listener fault (no-accept, refuse) counts once each time it takes hold.
/// Monotonic for the server's lifetime, across live changes of the fault set: what the
/// metrics code exports as a counter labelled by listener and fault.
struct fault_fired {
  std::string listener;  ///< the listener's name, as in the ready line
  std::string fault;     ///< the fault's NAME, "slice"
  std::uint64_t count = 0;
};

}  // namespace echo
