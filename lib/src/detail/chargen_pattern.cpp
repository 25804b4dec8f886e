#include "detail/chargen_pattern.hpp"

#include <algorithm>
#include <array>

namespace echo::detail {
namespace {

// One whole period, built at compile time, so fill() is a few memcpys whatever the length.
constexpr std::array<char, chargen_pattern::period> make_period() {
  std::array<char, chargen_pattern::period> text{};
  std::size_t at = 0;
  for (std::size_t line = 0; line < chargen_pattern::ring_size; ++line) {
    for (std::size_t col = 0; col < chargen_pattern::line_chars; ++col)
      text[at++] = static_cast<char>(' ' + (line + col) % chargen_pattern::ring_size);
    text[at++] = '\r';
    text[at++] = '\n';
  }
  return text;
}

constexpr auto whole_period = make_period();

}  // namespace

void chargen_pattern::fill(std::span<char> out, std::uint64_t offset) noexcept {
  auto at = static_cast<std::size_t>(offset % period);
  while (!out.empty()) {
    const auto n = std::min(out.size(), period - at);
    std::copy_n(whole_period.begin() + static_cast<std::ptrdiff_t>(at), n, out.begin());
    out = out.subspan(n);
    at = 0;
  }
}

std::span<const std::byte> chargen_pattern::block() noexcept {
  static const auto bytes = [] {
    std::array<char, period + block_extra> text{};
    fill(text, 0);
    return text;
  }();
  return std::as_bytes(std::span<const char>(bytes));
}

}  // namespace echo::detail
