#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace echo {

/// How log lines are written: `text` for people, `json` (one object per line) for collectors.
enum class log_format : std::uint8_t { text, json };

/// "json" -> log_format::json; nullopt for an unknown name.
std::optional<log_format> parse_log_format(std::string_view name) noexcept;

std::string_view to_string(log_format format) noexcept;

}  // namespace echo
