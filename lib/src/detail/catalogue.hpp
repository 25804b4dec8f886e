#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <array>
#include <cstddef>
#include <string_view>

namespace echo::detail {

/// One behaviour of `--catalogue`: the listener at base port + its index shows it.
struct catalogue_entry {
  std::string_view behaviour;  ///< what a client sees, for the printed table
  std::string_view fault;      ///< the fault SPEC that makes it (listener= added); empty: plain echo
};

/// The catalogue, in port order (a harness's port table, as "Release It!" test harnesses
/// keep one): README documents the same table.
inline constexpr std::array<catalogue_entry, 10> catalogue{{
    {"plain echo", ""},
    {"refuse: connect fails with ECONNREFUSED", "refuse"},
    {"no-accept: connect times out", "no-accept"},
    {"accept-then-close: EOF at once", "close-after:bytes=0"},
    {"accept-then-reset: ECONNRESET at once", "reset-after:bytes=0"},
    {"blackhole: reads everything, answers nothing", "blackhole"},
    {"stall: reads nothing, answers nothing", "stall"},
    {"slice 1: every echo one byte per write", "slice:size=1"},
    {"latency 1s: every echo 1 s late", "latency:delay=1s"},
    {"slow-read: reads 1 KiB/s, the client's writes block", "slow-read:rate=1KiB"},
}};

}  // namespace echo::detail
