#include "pattern.hpp"

#include <cstring>

namespace echo::test {
namespace {

std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

std::uint64_t word(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) noexcept {
  return mix(seed ^ mix(stream) ^ (index * 0xD1B54A32D192ED03ULL));
}

}  // namespace

void fill_pattern(std::uint64_t seed, std::uint64_t stream, std::uint64_t offset,
                  std::span<std::byte> out) noexcept {
  std::size_t i = 0;
  while (i < out.size()) {
    const std::uint64_t pos = offset + i;
    const std::uint64_t w = word(seed, stream, pos / 8);
    unsigned char bytes[8];
    std::memcpy(bytes, &w, 8);
    const std::size_t skip = static_cast<std::size_t>(pos % 8);
    const std::size_t n = std::min<std::size_t>(8 - skip, out.size() - i);
    std::memcpy(out.data() + i, bytes + skip, n);
    i += n;
  }
}

std::size_t first_mismatch(std::uint64_t seed, std::uint64_t stream, std::uint64_t offset,
                           std::span<const std::byte> got) noexcept {
  std::byte expected[4096];
  for (std::size_t done = 0; done < got.size();) {
    const std::size_t n = std::min(sizeof expected, got.size() - done);
    fill_pattern(seed, stream, offset + done, std::span(expected, n));
    if (std::memcmp(expected, got.data() + done, n) != 0) {
      for (std::size_t k = 0; k < n; ++k)
        if (expected[k] != got[done + k]) return done + k;
    }
    done += n;
  }
  return got.size();
}

std::uint64_t rng::next() noexcept {
  state_ += 0x9E3779B97F4A7C15ULL;
  return mix(state_);
}

std::size_t rng::between(std::size_t lo, std::size_t hi) noexcept {
  return lo + static_cast<std::size_t>(next() % (hi - lo + 1));
}

}  // namespace echo::test
