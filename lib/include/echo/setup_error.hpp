#pragma once

#include <stdexcept>
#include <string>
#include <system_error>

namespace echo {

/// A listener could not be set up (bind, listen, ...). The message names the address;
/// maps to exit_code::unavailable.
class setup_error : public std::runtime_error {
 public:
  setup_error(const std::string& what, std::error_code code) : std::runtime_error(what), code_(code) {}

  /// The OS error behind the failure (e.g. EADDRINUSE).
  std::error_code code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

}  // namespace echo
