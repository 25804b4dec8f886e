#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "echo/config.hpp"

namespace echo {

/// Socket activation (the sd_listen_fds(3) protocol, without libsystemd): a service manager
/// (systemd, systemd-socket-activate) binds the listening sockets itself and passes them as
/// descriptors 3, 4, ... with LISTEN_PID (the process they are meant for), LISTEN_FDS (how
/// many) and optionally LISTEN_FDNAMES (their FileDescriptorName=, colon-separated).

/// The first descriptor a service manager passes (SD_LISTEN_FDS_START).
inline constexpr int listen_fds_start = 3;
/// More passed sockets than this is taken for a broken environment rather than served.
inline constexpr std::size_t max_activated_sockets = 1024;

/// One socket passed by the service manager.
struct activated_socket {
  int fd = -1;
  /// Its LISTEN_FDNAMES entry; empty when the variable is unset.
  std::string name;

  friend bool operator==(const activated_socket&, const activated_socket&) = default;
};

/// Reads the protocol's variables from `env` ("NAME=VALUE" entries) for the process `pid`.
/// Returns no sockets when LISTEN_PID or LISTEN_FDS is unset, when LISTEN_FDS is 0, or when
/// LISTEN_PID names another process (the variables were meant for a parent and leaked here);
/// otherwise descriptors 3 .. 3+LISTEN_FDS-1 with their names. Touches no descriptor.
/// Throws config_error (exit 78), one line naming the variable, when LISTEN_PID or
/// LISTEN_FDS is not a plain decimal number, LISTEN_FDS exceeds max_activated_sockets, or
/// LISTEN_FDNAMES does not hold one name per descriptor.
std::vector<activated_socket> parse_socket_activation(std::span<const char* const> env, pid_t pid);

/// Removes LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES from this process's environment, as
/// sd_listen_fds(1) does, so that a child this process starts never takes the sockets as
/// its own.
void unset_socket_activation_environment();

/// Makes `cfg` serve `sockets` instead of its configured listeners: one listener_spec with
/// adopt_fd per socket, in descriptor order; the configured addresses (--bind, --port) are
/// not bound, which is logged at info. Unchanged when `sockets` is empty. The admin listener
/// is not affected.
void use_activated_sockets(config& cfg, const std::vector<activated_socket>& sockets);

}  // namespace echo
