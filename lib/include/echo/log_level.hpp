#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace echo {

/// Severity of a log line; lines below the configured level are dropped before formatting.
enum class log_level : std::uint8_t { trace, debug, info, warn, error, off };

/// "info" -> log_level::info; nullopt for an unknown name.
std::optional<log_level> parse_log_level(std::string_view name) noexcept;

std::string_view to_string(log_level level) noexcept;

}  // namespace echo
