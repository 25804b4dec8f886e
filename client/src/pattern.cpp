#include "echo/client/pattern.hpp"

#include <array>
#include <cstring>

namespace echo::client {
namespace {

// Compared a slice at a time: big enough that memcmp runs at memory speed, small
// enough for the stack, so verifying needs no buffer from the caller.
constexpr std::size_t compare_chunk = 8 * 1024;

// Word w of a stream is table[(w + rotation) % N] ^ key(seed, w / N). The table
// makes generation a load and an xor per 8 bytes (a few GB/s, so verifying every
// byte never makes the client the bottleneck); the per-block key means a chunk
// echoed at the wrong offset, even a whole table length away, or on the wrong
// connection, never compares equal.
constexpr unsigned table_bits = 13;
constexpr std::uint64_t table_words = 1u << table_bits;

std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

const std::array<std::uint64_t, table_words>& table() noexcept {
  static const auto instance = [] {
    std::array<std::uint64_t, table_words> t{};
    for (std::uint64_t i = 0; i < table_words; ++i) t[i] = splitmix64(i ^ 0x5EED5EEDull);
    return t;
  }();
  return instance;
}

}  // namespace

pattern::pattern(std::uint64_t seed) noexcept : seed_(seed), rotation_(splitmix64(seed) & (table_words - 1)) {
  (void)table();  // build the table before the first timed message
}

std::uint64_t pattern::connection_seed(std::uint64_t run_seed, std::uint64_t id) noexcept {
  return splitmix64(run_seed ^ splitmix64(id));
}

std::uint64_t pattern::word(std::uint64_t index) const noexcept {
  return table()[(index + rotation_) & (table_words - 1)] ^ splitmix64(seed_ + (index >> table_bits));
}

void pattern::fill(std::uint64_t offset, std::byte* out, std::size_t len) const noexcept {
  const auto& t = table();
  std::uint64_t w = offset >> 3;
  // Unaligned head: take the tail bytes of the first word.
  if (const std::size_t skip = offset & 7; skip != 0 && len > 0) {
    const std::uint64_t v = word(w++);
    std::byte bytes[8];
    std::memcpy(bytes, &v, 8);
    const std::size_t n = len < 8 - skip ? len : 8 - skip;
    std::memcpy(out, bytes + skip, n);
    out += n;
    len -= n;
  }
  while (len >= 8) {
    // One key per table block; the inner loop is a gather-free load/xor/store.
    const std::uint64_t key = splitmix64(seed_ + (w >> table_bits));
    const std::uint64_t block_end = (w | (table_words - 1)) + 1;
    std::uint64_t n_words = block_end - w;
    if (n_words > len / 8) n_words = len / 8;
    for (std::uint64_t i = 0; i < n_words; ++i) {
      const std::uint64_t v = t[(w + i + rotation_) & (table_words - 1)] ^ key;
      std::memcpy(out + i * 8, &v, 8);
    }
    w += n_words;
    out += n_words * 8;
    len -= n_words * 8;
  }
  if (len > 0) {
    const std::uint64_t v = word(w);
    std::memcpy(out, &v, len);
  }
}

std::size_t pattern::mismatch(std::uint64_t offset, const std::byte* got, std::size_t len) const noexcept {
  std::byte expected[compare_chunk];
  for (std::size_t done = 0; done < len;) {
    const std::size_t n = len - done < compare_chunk ? len - done : compare_chunk;
    fill(offset + done, expected, n);
    if (std::memcmp(expected, got + done, n) != 0) {
      for (std::size_t k = 0;; ++k)
        if (expected[k] != got[done + k]) return done + k;
    }
    done += n;
  }
  return len;
}

}  // namespace echo::client
