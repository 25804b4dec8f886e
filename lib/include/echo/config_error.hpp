#pragma once

#include <stdexcept>
#include <string>

namespace echo {

/// A configuration value breaks a rule (out of range, inconsistent). Thrown by validate(),
/// whatever filled the config: the command line, a future environment or file source, or
/// code that builds a config in-process. The message is one line and names the setting.
class config_error : public std::invalid_argument {
 public:
  config_error(std::string setting, const std::string& what)
      : std::invalid_argument(what), setting_(std::move(setting)) {}

  /// The setting at fault, spelt as its command-line flag without dashes ("threads").
  const std::string& setting() const noexcept { return setting_; }

 private:
  std::string setting_;
};

}  // namespace echo
