#pragma once

#include <string>

#include "echo/config_error.hpp"

namespace echo {

/// Invalid command line: an unknown flag, a missing or unparsable value, or a value
/// validate() rejected. Maps to exit_code::usage.
class usage_error : public config_error {
 public:
  explicit usage_error(const std::string& what) : config_error(std::string(), what) {}
};

}  // namespace echo
