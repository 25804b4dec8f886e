#define BOOST_TEST_MODULE pattern
#include <boost/test/unit_test.hpp>

#include "echo/client/pattern.hpp"

#include <cstring>
#include <vector>

using echo::client::pattern;

namespace {

std::vector<std::byte> stream(const pattern& p, std::uint64_t offset, std::size_t len) {
  std::vector<std::byte> out(len);
  p.fill(offset, out.data(), len);
  return out;
}

}  // namespace

// Verification regenerates arbitrary (offset, length) slices of what was sent in
// other slices: they must agree byte for byte, across 64 KiB block boundaries too.
BOOST_AUTO_TEST_CASE(any_slice_matches_the_whole_stream) {
  const pattern p(pattern::connection_seed(1, 7));
  const auto whole = stream(p, 0, 300'000);
  for (std::uint64_t off : {0ull, 1ull, 7ull, 8ull, 13ull, 65'535ull, 65'536ull, 65'541ull, 131'069ull}) {
    for (std::size_t len : {1ul, 3ul, 8ul, 9ul, 1000ul, 70'000ul}) {
      const auto part = stream(p, off, len);
      BOOST_TEST(std::memcmp(part.data(), whole.data() + off, len) == 0, "offset " << off << " len " << len);
    }
  }
}

BOOST_AUTO_TEST_CASE(connections_and_blocks_differ) {
  const pattern a(pattern::connection_seed(1, 0));
  const pattern b(pattern::connection_seed(1, 1));
  const pattern c(pattern::connection_seed(2, 0));
  BOOST_TEST(stream(a, 0, 64) != stream(b, 0, 64));
  BOOST_TEST(stream(a, 0, 64) != stream(c, 0, 64));
  // A chunk echoed one table length (64 KiB) late must not compare equal.
  BOOST_TEST(stream(a, 0, 4096) != stream(a, 65'536, 4096));
  // Consecutive 64-byte messages differ.
  BOOST_TEST(stream(a, 0, 64) != stream(a, 64, 64));
}

// Verification compares received slices in place: a matching slice reports its full
// length, a wrong byte its index, whatever the slice's alignment and size.
BOOST_AUTO_TEST_CASE(mismatch_finds_the_first_wrong_byte) {
  const pattern p(pattern::connection_seed(3, 4));
  for (std::uint64_t off : {0ull, 5ull, 65'530ull}) {
    for (std::size_t len : {1ul, 7ul, 8'192ul, 20'000ul}) {
      auto got = stream(p, off, len);
      BOOST_TEST(p.mismatch(off, got.data(), len) == len);
      for (std::size_t bad : {std::size_t{0}, len / 2, len - 1}) {
        auto broken = got;
        broken[bad] ^= std::byte{0x01};
        BOOST_TEST(p.mismatch(off, broken.data(), len) == bad, "offset " << off << " len " << len);
      }
    }
  }
  BOOST_TEST(p.mismatch(0, nullptr, 0) == 0u);
}

// The same bytes at another offset or from another connection are wrong.
BOOST_AUTO_TEST_CASE(misplaced_bytes_are_mismatches) {
  const pattern a(pattern::connection_seed(1, 0));
  const pattern b(pattern::connection_seed(1, 1));
  const auto sent = stream(a, 65'536, 4096);
  BOOST_TEST(a.mismatch(0, sent.data(), sent.size()) < sent.size());
  BOOST_TEST(b.mismatch(65'536, sent.data(), sent.size()) < sent.size());
}
