#pragma once

#include <boost/system/error_code.hpp>

namespace echo {

/// The ways a connection normally ends: the peer closed or reset it, or we cancelled the
/// operation. These are logged at debug level, never as errors.
bool is_expected_end(const boost::system::error_code& ec) noexcept;

}  // namespace echo
