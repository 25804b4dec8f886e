#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <string>

#include "echo/connection_record.hpp"

namespace echo::detail {

/// GET /connections' body (the README shows it): {"open": [...], "closed": [...],
/// "closed_capacity": N, "closed_total": N}, each connection an object with id, listener,
/// peer, proxy_source (null without a PROXY header), bytes_received, bytes_sent, started
/// (RFC 3339 UTC, microseconds), duration_us, end (null while open) and faults: one
/// {"fault": SPEC, "what": ...} per fault that acted on it (null while open).
std::string connections_json(const connection_list& list);

}  // namespace echo::detail
