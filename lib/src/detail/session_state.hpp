#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstdint>
#include <string_view>

namespace echo::detail {

/// Where an echo session is. Exactly one operation is in flight in every state but
/// `created` and `closed`; the names say which.
enum class session_state : std::uint8_t {
  created,        ///< constructed, not started
  starting,       ///< the stream's opening step (a TLS handshake) is in flight
  reading,        ///< a read is in flight
  writing,        ///< an echo write, or a planned pause before one, is in flight
  drain_reading,  ///< drain asked while reading: the read is being cancelled; bytes it
                  ///< already got are echoed first, then our FIN
  drain_writing,  ///< drain asked while writing: the echo finishes, then our FIN
  answering_fin,  ///< the peer finished sending and has every echo: our FIN is going out
  finishing,      ///< our FIN is going out (drain, or a plan's end); then lingering
  lingering,      ///< our FIN is out: reading and discarding until the peer's FIN
  holding,        ///< a fault holds the connection: nothing in flight but, for a timed hold,
                  ///< the plan's timer; a drain, a close or the idle timeout ends it
  closed,
};

/// How a session ended, for the close log line (and, later, metrics and records).
enum class end_reason : std::uint8_t {
  none,           ///< not ended yet
  eof,            ///< the peer finished sending and got every byte echoed and our FIN
  reset,          ///< the peer reset or vanished (an expected end, not an error)
  error,          ///< an unexpected error, logged as a warning
  idle_timeout,   ///< no progress either way for --idle-timeout
  write_timeout,  ///< the peer did not take its echo for --write-timeout
  shutdown,       ///< the graceful drain completed
  forced,         ///< closed by the server: drain deadline passed, or aborted
  plan_fin,       ///< the step plan ended it with our FIN
  plan_reset,     ///< the step plan ended it with an RST
  proxy_header,   ///< the PROXY protocol header was missing or malformed
};

std::string_view to_string(session_state s) noexcept;
std::string_view to_string(end_reason r) noexcept;

}  // namespace echo::detail
