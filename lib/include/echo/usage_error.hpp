#pragma once

#include <stdexcept>

namespace echo {

/// Invalid command line or configuration value; maps to exit_code::usage.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace echo
