#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <boost/system/error_code.hpp>

namespace echo::detail {

/// The ways a connection normally ends: the peer closed or reset it, or we cancelled the
/// operation. These are logged at debug level, never as errors.
bool is_expected_end(const boost::system::error_code& ec) noexcept;

}  // namespace echo::detail
