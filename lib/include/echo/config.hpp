#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "echo/fault_spec.hpp"
#include "echo/listener_spec.hpp"
#include "echo/log_format.hpp"
#include "echo/log_level.hpp"
#include "echo/tls_settings.hpp"

namespace echo {

/// Whether plain stream sessions may echo through a pipe with splice(2) instead of copying
/// through user space. `automatic`: a session moves to it while its reads are large.
/// `always` is for tests only (not in --help): every session that may splice does, from
/// its first read, so the whole suite can run on that path.
enum class splice_mode : std::uint8_t { automatic, off, always };

/// Everything the service needs to run, as plain data: the one place defaults are written.
/// Any source may fill it (the command line today; environment and file later; code that
/// embeds the server); validate() is the one place its rules are checked.
struct config {
  /// Where to listen. `--bind`/`--port` fill the first entry; `--listen` URLs follow it, or
  /// replace it when neither --bind nor --port is given.
  std::vector<listener_spec> listeners{listener_spec{}};
  /// Permission bits for unix socket files without their own `mode`; unset: as created.
  std::optional<unsigned> unix_mode;
  /// UDP replies per source address and second, so spoofed requests cannot aim the service
  /// at a victim: datagrams, and payload bytes. 0 lifts a limit.
  std::uint32_t udp_source_rate = 10'000;
  std::uint64_t udp_source_bytes = 64ULL * 1024 * 1024;
  /// Receive buffer of each UDP socket: what absorbs a burst of datagrams while the loop
  /// is busy. The kernel default (about 200 KiB) holds under a hundred 1,472-byte ones.
  std::uint32_t udp_receive_buffer = 4U * 1024 * 1024;
  /// What tls:// listeners serve with; certificate and key are required when there is one.
  tls_settings tls;
  /// Threads running the io_context; 0 = as many CPUs as this process may use.
  unsigned threads = 1;
  log_level level = log_level::info;
  log_format format = log_format::text;
  /// Where to write the ready output too, atomically, once every listener listens (empty:
  /// only stdout); removed again on a clean exit.
  std::string ready_file;
  /// How long sessions may take to finish after SIGTERM before they are closed.
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(5)};
  /// After SIGTERM, how long to keep accepting (readiness already failing) so that load
  /// balancers stop sending new connections before the listeners close; 0 closes at once.
  std::chrono::milliseconds shutdown_delay{0};
  /// Bytes read per receive; also the bound on what one session holds in user space.
  std::size_t buffer_size = 64 * 1024;
  /// Sessions allowed at once; 0 = automatic (the soft descriptor limit minus a reserve).
  /// Connections above the cap are accepted and closed at once.
  std::size_t max_connections = 0;
  /// A session with no progress in either direction for this long is closed; 0 disables.
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  /// A session whose echo cannot be written (peer not reading) for this long is closed;
  /// 0 disables.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  /// Listen backlog handed to listen(2); the kernel caps it at net.core.somaxconn.
  int backlog = 4096;
  /// SO_REUSEPORT on every listener, so several processes can share one port.
  bool reuse_port = false;
  /// The HTTP admin listener (metrics, health, readiness, connections); unset: none.
  std::optional<listener_spec> admin;
  /// The bearer token admin requests that change anything must carry; with neither this nor
  /// admin_token_file set, those requests are refused (read-only ones stay open).
  std::string admin_token;
  /// A file whose first line is the token, read at start-up: keeps it out of argv and the
  /// environment (a mounted secret).
  std::string admin_token_file;
  /// Closed connections the admin listener's /connections remembers (the latest ones);
  /// records are kept only when there is an admin listener to read them. 0 keeps none.
  std::size_t connection_history = 1000;
  /// Faults in effect from the start (`--fault`), and what the server's reset_faults()
  /// returns to. Empty: none, and connections pay nothing for the fault engine.
  std::vector<fault_spec> faults;
  /// Seeds every random choice a fault makes (which connections, slice sizes, offsets,
  /// jitter): the same seed and connection order give the same choices. Unset: one is drawn
  /// at start and logged, so a run can be repeated.
  std::optional<std::uint64_t> seed;
  /// The integrity faults (corrupt, garbage-then-close, amplify) are refused without it.
  bool allow_corruption = false;
  /// `--catalogue BASE_PORT`: one TCP listener per behaviour of the catalogue (see README),
  /// on `catalogue->address` (unset: as for any listener), ports `catalogue->port` up by
  /// one each (0: each a port of its own the kernel picks). They follow `listeners`, which
  /// may then be empty.
  std::optional<listener_spec> catalogue;
  /// The zero-copy path for large echoes on plain TCP and Unix stream connections.
  /// Off by default: on small messages streamed without pause a session's reads coalesce
  /// into large ones, moves to the pipe, and there moves fewer bytes per second than copying.
  splice_mode splice = splice_mode::off;

  // The rules validate() enforces.
  static constexpr unsigned max_threads = 1024;
  static constexpr std::size_t min_buffer_size = 512;
  static constexpr std::size_t max_buffer_size = 16 * 1024 * 1024;
  static constexpr std::size_t max_max_connections = 10'000'000;
  static constexpr std::chrono::milliseconds max_duration{std::chrono::hours(24)};
  static constexpr int max_backlog = 65535;
  static constexpr std::size_t max_connection_history = 1'000'000;
  static constexpr std::size_t max_admin_token = 4096;
};

/// Checks every rule of `cfg`; throws config_error naming the first setting that breaks one.
/// The server calls it too, so a config built in code gets the same error as a bad flag.
void validate(const config& cfg);

/// Descriptors kept back from max_connections for the listener, epoll, timers, signals,
/// logging and the accept reserve.
inline constexpr std::size_t fd_reserve = 32;

/// The soft RLIMIT_NOFILE minus fd_reserve: the descriptors sessions and splice pipes share.
std::size_t descriptor_budget();

/// Resolves max_connections == 0 against the soft RLIMIT_NOFILE.
std::size_t effective_max_connections(const config& cfg);

/// The admin token: admin_token, or the first line of admin_token_file (read now, trailing
/// whitespace dropped); empty when neither is set. Throws config_error naming
/// admin-token-file when it cannot be read or holds no valid token.
std::string effective_admin_token(const config& cfg);

/// Whether `token` may serve as a bearer token: 1 to max_admin_token characters of RFC 6750's
/// token68 set (letters, digits, - . _ ~ + / and trailing =).
bool valid_admin_token(std::string_view token) noexcept;

/// Resolves threads == 0 to the CPU count available to this process.
unsigned effective_threads(const config& cfg);

}  // namespace echo
