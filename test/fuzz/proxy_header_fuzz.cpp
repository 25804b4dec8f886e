// libFuzzer target for the PROXY protocol parser: the input is the bytes a peer sent. It is
// parsed under each accepted setting (v1, v2, any), and the results must hold together:
//  - done: the length is within the input and the version's limit, the header alone parses
//    to the same result, and every shorter prefix is need_more;
//  - invalid: a reason is given; every prefix is need_more up to the first invalid one, and
//    from there on invalid for that same reason (more bytes never change the verdict);
//  - need_more: every prefix is need_more too, and the input is shorter than any header
//    could be without being decided;
//  - v1 and v2 agree with any: what any accepts, the matching version accepts the same, and
//    the other one rejects at once.
// The input and the header alone are parsed from buffers of exactly their length, so
// AddressSanitizer catches a read past the end; prefixes are parsed in place, for speed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "detail/proxy_header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

using echo::proxy_protocol;
using echo::detail::proxy_error;
using echo::detail::proxy_result;
using echo::detail::proxy_status;

// Longer inputs add nothing: a header is decided within its first max_proxy_header bytes.
constexpr std::size_t max_input = echo::detail::max_proxy_header + 64;

[[noreturn]] void broken(const char* what, std::size_t size, std::size_t at) {
  std::fprintf(stderr, "proxy_header_fuzz: %s (input of %zu bytes, at %zu)\n", what, size, at);
  std::fflush(stderr);
  std::abort();
}

void check(bool held, const char* what, std::size_t size, std::size_t at = 0) {
  if (!held) broken(what, size, at);
}

proxy_result parse_copy(const std::uint8_t* data, std::size_t n, proxy_protocol accepted) {
  // Exactly n bytes on the heap: one byte further is an ASan report.
  std::vector<std::byte> copy(n);
  for (std::size_t i = 0; i < n; ++i) copy[i] = static_cast<std::byte>(data[i]);
  return echo::detail::parse_proxy_header(copy, accepted);
}

proxy_result parse_prefix(const std::uint8_t* data, std::size_t n, proxy_protocol accepted) {
  return echo::detail::parse_proxy_header(std::span(reinterpret_cast<const std::byte*>(data), n), accepted);
}

proxy_result check_one(const std::uint8_t* data, std::size_t size, proxy_protocol accepted) {
  const proxy_result r = parse_copy(data, size, accepted);
  check((r.status == proxy_status::invalid) == (r.reason != proxy_error::none), "a reason iff invalid", size);
  switch (r.status) {
    case proxy_status::done: {
      check(r.length > 0 && r.length <= size, "done with a length beyond the input", size, r.length);
      check(r.version == 1 || r.version == 2, "done without a version", size);
      const std::size_t limit =
          r.version == 1 ? echo::detail::max_proxy_v1_header : echo::detail::max_proxy_v2_header;
      check(r.length <= limit, "done past the version's limit", size, r.length);
      check(r.version == 2 || r.command == echo::detail::proxy_command::proxy, "a v1 LOCAL", size);
      check(!r.addresses || r.command == echo::detail::proxy_command::proxy, "addresses for LOCAL", size);
      check(parse_copy(data, r.length, accepted) == r, "the header alone parses differently", size, r.length);
      for (std::size_t k = 0; k < r.length; ++k) {
        check(parse_prefix(data, k, accepted).status == proxy_status::need_more,
              "a prefix of a header is not need_more", size, k);
      }
      break;
    }
    case proxy_status::invalid: {
      bool seen_invalid = false;
      for (std::size_t k = 0; k < size; ++k) {
        const proxy_result p = parse_prefix(data, k, accepted);
        check(p.status != proxy_status::done, "a prefix of an invalid input is done", size, k);
        if (p.status == proxy_status::invalid) {
          seen_invalid = true;
          check(p.reason == r.reason, "more bytes changed the reason", size, k);
        } else {
          check(!seen_invalid, "need_more after invalid", size, k);
        }
      }
      break;
    }
    case proxy_status::need_more: {
      check(size < echo::detail::max_proxy_header, "need_more at the longest header", size);
      for (std::size_t k = 0; k < size; ++k) {
        check(parse_prefix(data, k, accepted).status == proxy_status::need_more,
              "a prefix of need_more is decided", size, k);
      }
      break;
    }
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > max_input) return 0;
  const proxy_result any = check_one(data, size, proxy_protocol::any);
  const proxy_result one = check_one(data, size, proxy_protocol::v1);
  const proxy_result two = check_one(data, size, proxy_protocol::v2);
  const bool v1_input = size > 0 && data[0] == 'P';
  const bool v2_input = size > 0 && data[0] == 0x0D;
  // The first byte picks the version; the restricted settings differ from `any` only by
  // rejecting the other version there.
  check(v1_input ? one == any : one.reason == (v2_input ? proxy_error::not_v1 : any.reason),
        "v1 disagrees with any", size);
  check(v2_input ? two == any : two.reason == (v1_input ? proxy_error::not_v2 : any.reason),
        "v2 disagrees with any", size);
  check(parse_copy(data, size, proxy_protocol::off).status == proxy_status::invalid, "off accepted something",
        size);
  return 0;
}
