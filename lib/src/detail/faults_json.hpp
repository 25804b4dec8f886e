#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <string>
#include <string_view>
#include <vector>

#include "echo/fault_spec.hpp"

namespace echo {
class server;
}

namespace echo::detail {

/// GET /faults' body: {"faults": [SPEC...], "configured": [SPEC...], "seed": S,
/// "allow_corruption": B}, each SPEC canonical (format_fault_spec), the active set in the
/// order it was given.
std::string faults_json(const server& srv);

/// The fault set a PUT /faults body asks for: {"faults": [SPEC...]} or a bare [SPEC...], each
/// SPEC read by parse_fault_spec, as --fault reads it. Throws usage_error with a one-line
/// message naming what is wrong (bad JSON, a non-string entry, the parser's own message).
std::vector<fault_spec> parse_faults_json(std::string_view body);

}  // namespace echo::detail
