#define BOOST_TEST_MODULE proxy_header
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>

#include "detail/proxy_header.hpp"
#include "detail/proxy_reader.hpp"
#include "socket_util.hpp"
#include "unique_fd.hpp"

using echo::proxy_protocol;
using echo::detail::parse_proxy_header;
using echo::detail::proxy_command;
using echo::detail::proxy_error;
using echo::detail::proxy_reader;
using echo::detail::proxy_result;
using echo::detail::proxy_status;
using echo::test::unique_fd;

namespace echo::detail {
// Boost.Test prints checked values of these types by name (found by argument lookup).
std::ostream& operator<<(std::ostream& os, proxy_status s) { return os << to_string(s); }
std::ostream& operator<<(std::ostream& os, proxy_error e) { return os << to_string(e); }
std::ostream& operator<<(std::ostream& os, proxy_reader::status s) { return os << to_string(s); }
}  // namespace echo::detail

namespace {

namespace ip = boost::asio::ip;

std::span<const std::byte> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

proxy_result parse(std::string_view s, proxy_protocol accepted = proxy_protocol::any) {
  return parse_proxy_header(as_bytes(s), accepted);
}

ip::tcp::endpoint ep(const char* addr, std::uint16_t port) { return {ip::make_address(addr), port}; }

// A v2 header: signature, version/command byte, family byte, the length (the block's own
// unless `length` overrides it), then the block.
std::string v2(std::uint8_t ver_cmd, std::uint8_t family, std::string_view block,
               std::optional<std::size_t> length = std::nullopt) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(family);
  const std::size_t n = length.value_or(block.size());
  h += static_cast<char>(n >> 8 & 0xFF);
  h += static_cast<char>(n & 0xFF);
  h += block;
  return h;
}

std::string be16(std::uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xFF)}; }

std::string inet_block(std::array<std::uint8_t, 4> src, std::array<std::uint8_t, 4> dst, std::uint16_t sport,
                       std::uint16_t dport) {
  std::string b;
  for (const auto x : src) b += static_cast<char>(x);
  for (const auto x : dst) b += static_cast<char>(x);
  return b + be16(sport) + be16(dport);
}

std::string inet6_block(const char* src, const char* dst, std::uint16_t sport, std::uint16_t dport) {
  std::string b;
  for (const auto x : ip::make_address_v6(src).to_bytes()) b += static_cast<char>(x);
  for (const auto x : ip::make_address_v6(dst).to_bytes()) b += static_cast<char>(x);
  return b + be16(sport) + be16(dport);
}

// A TLV: type, 16-bit length, value.
std::string tlv(std::uint8_t type, std::string_view value) {
  return static_cast<char>(type) + be16(static_cast<std::uint16_t>(value.size())) + std::string(value);
}

// Every proper prefix of a valid header must be need_more, the header itself done with its
// own length, and the header followed by payload done with the same result.
void check_complete_header(const std::string& header, proxy_protocol accepted = proxy_protocol::any) {
  BOOST_TEST_INFO("header of " << header.size() << " bytes");
  for (std::size_t k = 0; k < header.size(); ++k) {
    const auto r = parse(std::string_view(header).substr(0, k), accepted);
    BOOST_TEST_INFO("prefix of " << k << " bytes");
    BOOST_TEST(r.status == proxy_status::need_more);
    if (r.status != proxy_status::need_more) return;
  }
  const auto whole = parse(header, accepted);
  BOOST_TEST(whole.status == proxy_status::done);
  BOOST_TEST(whole.length == header.size());
  const auto with_payload = parse(header + "GET / HTTP/1.1\r\n\r\n\0\r\n", accepted);
  BOOST_TEST((with_payload == whole));
}

// A malformed header: invalid for `reason`, decided at the first wrong byte (every shorter
// prefix need_more) and never changed by more bytes.
void check_rejected(const std::string& input, proxy_error reason,
                    proxy_protocol accepted = proxy_protocol::any) {
  BOOST_TEST_INFO("input \"" << input << "\"");
  const auto r = parse(input, accepted);
  BOOST_TEST(r.status == proxy_status::invalid);
  BOOST_TEST(r.reason == reason);
  std::size_t first_invalid = input.size() + 1;
  for (std::size_t k = 0; k <= input.size(); ++k) {
    const auto p = parse(std::string_view(input).substr(0, k), accepted);
    if (first_invalid > input.size()) {
      if (p.status == proxy_status::invalid) {
        first_invalid = k;
      } else {
        BOOST_TEST_INFO("prefix of " << k << " bytes");
        BOOST_TEST(p.status == proxy_status::need_more);
      }
    }
    if (first_invalid <= k) {
      BOOST_TEST_INFO("prefix of " << k << " bytes");
      BOOST_TEST(p.reason == reason);
    }
  }
}

}  // namespace

// ---- version 1 ----

BOOST_AUTO_TEST_CASE(v1_tcp4) {
  const std::string h = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  const auto r = parse(h + "GET / HTTP/1.1\r\n");
  BOOST_TEST(r.status == proxy_status::done);
  BOOST_TEST(r.length == h.size());
  BOOST_TEST(r.version == 1);
  BOOST_TEST((r.command == proxy_command::proxy));
  BOOST_TEST_REQUIRE(r.addresses.has_value());
  BOOST_TEST(r.addresses->source == ep("192.168.0.1", 56324));
  BOOST_TEST(r.addresses->destination == ep("192.168.0.11", 443));
  check_complete_header(h);
  // The spec's longest TCP4 line, and the edges of every field.
  check_complete_header("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
  const auto edges = parse("PROXY TCP4 0.0.0.0 10.0.0.200 0 65535\r\n");
  BOOST_TEST_REQUIRE(edges.addresses.has_value());
  BOOST_TEST(edges.addresses->source == ep("0.0.0.0", 0));
  BOOST_TEST(edges.addresses->destination == ep("10.0.0.200", 65535));
}

BOOST_AUTO_TEST_CASE(v1_tcp6) {
  const std::string h = "PROXY TCP6 2001:db8::1 ::1 1 8080\r\n";
  const auto r = parse(h);
  BOOST_TEST(r.status == proxy_status::done);
  BOOST_TEST_REQUIRE(r.addresses.has_value());
  BOOST_TEST(r.addresses->source == ep("2001:db8::1", 1));
  BOOST_TEST(r.addresses->destination == ep("::1", 8080));
  check_complete_header(h);
  // The spec's longest TCP6 line: 104 bytes.
  const std::string longest =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF 65535 "
      "65535\r\n";
  BOOST_TEST(longest.size() == 104U);
  check_complete_header(longest);
  // What inet_ntop writes for IPv4-mapped addresses, and "::" in every position.
  for (const char* text : {"::ffff:10.0.0.1", "::", "1::", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
                           "1:2:3:4:5:6:1.2.3.4", "64:ff9b::192.0.2.33", "fe80::a:0:0:1"}) {
    const std::string line = std::string("PROXY TCP6 ") + text + " ::1 1 2\r\n";
    BOOST_TEST_INFO(line);
    const auto x = parse(line);
    BOOST_TEST(x.status == proxy_status::done);
    BOOST_TEST_REQUIRE(x.addresses.has_value());
    BOOST_TEST(x.addresses->source == ep(text, 1));
    check_complete_header(line);
  }
}

BOOST_AUTO_TEST_CASE(v1_unknown_keeps_the_socket_peer) {
  const std::string worst =
      "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 "
      "65535\r\n";
  BOOST_TEST(worst.size() == 107U);
  for (const std::string& h : {std::string("PROXY UNKNOWN\r\n"), worst,
                               std::string("PROXY UNKNOWN anything at all: 1.2.3.4 no port\r\n")}) {
    BOOST_TEST_INFO(h);
    const auto r = parse(h + "payload");
    BOOST_TEST(r.status == proxy_status::done);
    BOOST_TEST(r.length == h.size());
    BOOST_TEST(!r.addresses.has_value());
    check_complete_header(h);
  }
}

BOOST_AUTO_TEST_CASE(v1_crlf_must_come_within_107_bytes) {
  const std::string head = "PROXY UNKNOWN ";
  const std::string fits = head + std::string(107 - head.size() - 2, 'a') + "\r\n";
  BOOST_TEST(fits.size() == 107U);
  check_complete_header(fits);
  const std::string over = head + std::string(108 - head.size() - 2, 'a') + "\r\n";
  check_rejected(over, proxy_error::too_long);
  // Rejected as soon as the CRLF can no longer fit, not when byte 108 arrives.
  BOOST_TEST(parse(over.substr(0, 105)).status == proxy_status::need_more);
  BOOST_TEST(parse(over.substr(0, 106)).status == proxy_status::invalid);
  check_rejected("PROXY UNKNOWN " + std::string(500, 'x'), proxy_error::too_long);
  // A mapped IPv6 address of the longest form makes a valid-looking line too long.
  const std::string mapped = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
  check_rejected("PROXY TCP6 " + mapped + " " + mapped + " 65535 65535\r\n", proxy_error::too_long);
}

BOOST_AUTO_TEST_CASE(v1_malformed) {
  const std::vector<std::pair<std::string, proxy_error>> cases = {
      // signature and protocol
      {"PROXY\r\n", proxy_error::bad_signature},
      {"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", proxy_error::bad_signature},
      {"PROXZ TCP4", proxy_error::bad_signature},
      {"PROXYTCP4", proxy_error::bad_signature},
      {"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", proxy_error::bad_protocol},
      {"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", proxy_error::bad_protocol},
      {"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", proxy_error::bad_protocol},
      {"PROXY TCP44 1.2.3.4", proxy_error::bad_protocol},
      {"PROXY UNKNOWNX\r\n", proxy_error::bad_protocol},
      {"PROXY UNKNOWN\n", proxy_error::bad_protocol},
      {"PROXY UNKNOWN a\nb\r\n", proxy_error::bad_syntax},
      {"PROXY UNKNOWN\rX", proxy_error::bad_syntax},
      // spaces and fields
      {"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", proxy_error::bad_syntax},
      {"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", proxy_error::bad_syntax},
      {"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", proxy_error::bad_syntax},
      {"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", proxy_error::bad_syntax},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", proxy_error::bad_syntax},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", proxy_error::bad_syntax},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", proxy_error::bad_syntax},
      {"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4\r\n", proxy_error::bad_syntax},
      {"PROXY TCP4 1.2.3.4\r\n", proxy_error::bad_syntax},
      {"PROXY TCP4 1.2.3.4 5.6.7.8\r\n", proxy_error::bad_syntax},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", proxy_error::bad_syntax},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", proxy_error::bad_syntax},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", proxy_error::bad_syntax},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rGET", proxy_error::bad_syntax},
      // IPv4 addresses
      {"PROXY TCP4 256.1.1.1 5.6.7.8 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4 1.2.3.4 5.6.7.300 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4 1..2.3 5.6.7.8 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4 .1.2.3 5.6.7.8 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4 1.2.3. 5.6.7.8 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4 1.2.3.00 5.6.7.8 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4 1.2.3.4444 5.6.7.8 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4 1.2.3.4 ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP4 localhost 5.6.7.8 1 2\r\n", proxy_error::bad_address},
      // IPv6 addresses
      {"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 ::1 1.2.3.4 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 1::2::3 ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 ::: ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 :1:: ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 1: ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 12345:: ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 g:: ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 1::2:3:4:5:6:7:8 ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 1:2:3:4:5:6:7:8:: ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 ::ffff:1.2.3.04 ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 ::ffff:256.1.1.1 ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 ::ffff:1.2.3 ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 ::ffff:1.2.3.4:1 ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 ::fff1f.2.3.4 ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 1:2:3:4:5:6:7:1.2.3.4 ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", proxy_error::bad_address},
      {"PROXY TCP6 [::1] ::1 1 2\r\n", proxy_error::bad_address},
      // ports
      {"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", proxy_error::bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", proxy_error::bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n", proxy_error::bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", proxy_error::bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", proxy_error::bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", proxy_error::bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", proxy_error::bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n", proxy_error::bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n", proxy_error::bad_port},
  };
  for (const auto& [input, reason] : cases) check_rejected(input, reason);
}

// The byte that makes each of these wrong is its last: no CRLF needed to reject it.
BOOST_AUTO_TEST_CASE(v1_rejected_at_the_first_wrong_byte) {
  const std::vector<std::pair<std::string, proxy_error>> cases = {
      {"PROXY TCP4 01", proxy_error::bad_address},
      {"PROXY TCP4 256", proxy_error::bad_address},
      {"PROXY TCP4 1.2.3.4.", proxy_error::bad_address},
      {"PROXY TCP4 :", proxy_error::bad_address},
      {"PROXY TCP6 :1", proxy_error::bad_address},
      {"PROXY TCP6 12345", proxy_error::bad_address},
      {"PROXY TCP6 1::2::", proxy_error::bad_address},
      {"PROXY TCP6 1:2:3:4:5:6:7:8:", proxy_error::bad_address},
      {"PROXY TCP6 1.", proxy_error::bad_address},
      {"PROXY TCP6 ::ffff:1.2.3.04", proxy_error::bad_address},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 01", proxy_error::bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 65536", proxy_error::bad_port},
      {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ", proxy_error::bad_syntax},
      {"PROXY TCP7", proxy_error::bad_protocol},
      {"PROXY UNKNOWN x\n", proxy_error::bad_syntax},
  };
  for (const auto& [input, reason] : cases) {
    BOOST_TEST_INFO("input \"" << input << "\"");
    const auto r = parse(input);
    BOOST_TEST(r.status == proxy_status::invalid);
    BOOST_TEST(r.reason == reason);
    BOOST_TEST(parse(input.substr(0, input.size() - 1)).status == proxy_status::need_more);
  }
}

BOOST_AUTO_TEST_CASE(anything_but_a_header_is_rejected_at_its_first_byte) {
  for (const std::string& input :
       {std::string("GET / HTTP/1.1\r\n"), std::string("\x16\x03\x01\x02\x00", 5),
        std::string("SSH-2.0-OpenSSH\r\n"), std::string(1, '\0'), std::string("p")}) {
    BOOST_TEST_INFO("input \"" << input << "\"");
    const auto r = parse(input.substr(0, 1));
    BOOST_TEST(r.status == proxy_status::invalid);
    BOOST_TEST(r.reason == proxy_error::bad_signature);
  }
  // Nothing yet: wait.
  BOOST_TEST(parse("").status == proxy_status::need_more);
  // A listener with the protocol off accepts no header at all.
  BOOST_TEST(parse("PROXY UNKNOWN\r\n", proxy_protocol::off).status == proxy_status::invalid);
  BOOST_TEST(parse("", proxy_protocol::off).status == proxy_status::invalid);
}

// ---- version 2 ----

BOOST_AUTO_TEST_CASE(v2_proxy_inet) {
  const auto h = v2(0x21, 0x11, inet_block({192, 0, 2, 1}, {198, 51, 100, 7}, 40000, 443));
  BOOST_TEST(h.size() == 28U);
  const auto r = parse(h + "hello");
  BOOST_TEST(r.status == proxy_status::done);
  BOOST_TEST(r.length == 28U);
  BOOST_TEST(r.version == 2);
  BOOST_TEST((r.command == proxy_command::proxy));
  BOOST_TEST_REQUIRE(r.addresses.has_value());
  BOOST_TEST(r.addresses->source == ep("192.0.2.1", 40000));
  BOOST_TEST(r.addresses->destination == ep("198.51.100.7", 443));
  check_complete_header(h);
}

BOOST_AUTO_TEST_CASE(v2_proxy_inet6) {
  const auto h = v2(0x21, 0x21, inet6_block("2001:db8::1", "2001:db8::ff", 65535, 0));
  BOOST_TEST(h.size() == 52U);
  const auto r = parse(h);
  BOOST_TEST(r.status == proxy_status::done);
  BOOST_TEST_REQUIRE(r.addresses.has_value());
  BOOST_TEST(r.addresses->source == ep("2001:db8::1", 65535));
  BOOST_TEST(r.addresses->destination == ep("2001:db8::ff", 0));
  check_complete_header(h);
}

BOOST_AUTO_TEST_CASE(v2_tlvs_are_skipped) {
  const std::string tlvs =
      tlv(0x03, std::string(4, '\x7f')) + tlv(0x04, std::string(100, '\0')) + tlv(0x01, "h2") + tlv(0xEA, "");
  for (const auto& [family, block] :
       {std::pair{std::uint8_t{0x11}, inet_block({10, 1, 2, 3}, {10, 3, 2, 1}, 5, 6)},
        std::pair{std::uint8_t{0x21}, inet6_block("::1", "::2", 5, 6)}}) {
    const auto h = v2(0x21, family, block + tlvs);
    const auto r = parse(h + "payload");
    BOOST_TEST(r.status == proxy_status::done);
    BOOST_TEST(r.length == h.size());
    BOOST_TEST_REQUIRE(r.addresses.has_value());
    BOOST_TEST(r.addresses->source.port() == 5);
    BOOST_TEST(r.addresses->destination.port() == 6);
    check_complete_header(h);
  }
}

BOOST_AUTO_TEST_CASE(v2_local_and_unusable_families_keep_the_socket_peer) {
  const std::vector<std::pair<std::string, proxy_command>> cases = {
      {v2(0x20, 0x00, ""), proxy_command::local},
      // LOCAL ignores the family and whatever block comes with it.
      {v2(0x20, 0x11, inet_block({1, 2, 3, 4}, {5, 6, 7, 8}, 1, 2)), proxy_command::local},
      {v2(0x20, 0xFF, "abc"), proxy_command::local},
      {v2(0x20, 0x21, ""), proxy_command::local},
      // PROXY over UNSPEC, UNIX or a datagram protocol: valid, but no TCP peer to use.
      {v2(0x21, 0x00, ""), proxy_command::proxy},
      {v2(0x21, 0x00, "ignored"), proxy_command::proxy},
      {v2(0x21, 0x31, std::string(216, 'u')), proxy_command::proxy},
      {v2(0x21, 0x32, std::string(216, 'u') + tlv(0x04, "")), proxy_command::proxy},
      {v2(0x21, 0x12, inet_block({1, 2, 3, 4}, {5, 6, 7, 8}, 1, 2)), proxy_command::proxy},
      {v2(0x21, 0x22, inet6_block("::1", "::2", 1, 2)), proxy_command::proxy},
  };
  for (const auto& [h, command] : cases) {
    BOOST_TEST_INFO("header of " << h.size() << " bytes, family byte " << int(std::uint8_t(h[13])));
    const auto r = parse(h + "x");
    BOOST_TEST(r.status == proxy_status::done);
    BOOST_TEST(r.length == h.size());
    BOOST_TEST((r.command == command));
    BOOST_TEST(!r.addresses.has_value());
    check_complete_header(h);
  }
}

BOOST_AUTO_TEST_CASE(v2_malformed) {
  const auto inet = inet_block({1, 2, 3, 4}, {5, 6, 7, 8}, 1, 2);
  const std::vector<std::pair<std::string, proxy_error>> cases = {
      {v2(0x11, 0x11, inet), proxy_error::bad_version},
      {v2(0x31, 0x11, inet), proxy_error::bad_version},
      {v2(0x01, 0x11, inet), proxy_error::bad_version},
      {v2(0xF1, 0x11, inet), proxy_error::bad_version},
      {v2(0x22, 0x11, inet), proxy_error::bad_command},
      {v2(0x2F, 0x11, inet), proxy_error::bad_command},
      {v2(0x21, 0x13, inet), proxy_error::bad_family},
      {v2(0x21, 0x41, inet), proxy_error::bad_family},
      {v2(0x21, 0x01, inet), proxy_error::bad_family},
      {v2(0x21, 0x10, inet), proxy_error::bad_family},
      {v2(0x21, 0xFF, inet), proxy_error::bad_family},
      {v2(0x21, 0x11, inet.substr(0, 11)), proxy_error::bad_length},
      {v2(0x21, 0x11, ""), proxy_error::bad_length},
      {v2(0x21, 0x21, inet), proxy_error::bad_length},
      {v2(0x21, 0x31, std::string(215, 'u')), proxy_error::bad_length},
      {v2(0x21, 0x12, inet.substr(0, 8)), proxy_error::bad_length},
      // The cap: 16 + 4080 is the longest accepted header.
      {v2(0x21, 0x11, inet, 4081), proxy_error::too_long},
      {v2(0x20, 0x00, "", 65535), proxy_error::too_long},
  };
  for (const auto& [input, reason] : cases) check_rejected(input, reason);

  // A wrong byte anywhere in the signature is rejected at that byte.
  const auto good = v2(0x21, 0x11, inet);
  for (std::size_t i = 0; i < 12; ++i) {
    auto bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    check_rejected(bad, proxy_error::bad_signature);
    BOOST_TEST(parse(std::string_view(bad).substr(0, i + 1)).status == proxy_status::invalid);
  }
}

BOOST_AUTO_TEST_CASE(v2_longest_accepted_header) {
  const auto h =
      v2(0x21, 0x11, inet_block({1, 2, 3, 4}, {5, 6, 7, 8}, 1, 2) + tlv(0x04, std::string(4065, 'p')));
  BOOST_TEST(h.size() == echo::detail::max_proxy_v2_header);
  check_complete_header(h);
}

// ---- the accepted versions ----

BOOST_AUTO_TEST_CASE(accepted_restricts_the_version) {
  const std::string one = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
  const auto two = v2(0x21, 0x11, inet_block({1, 2, 3, 4}, {5, 6, 7, 8}, 1, 2));
  BOOST_TEST(parse(one, proxy_protocol::v1).status == proxy_status::done);
  BOOST_TEST(parse(two, proxy_protocol::v2).status == proxy_status::done);
  BOOST_TEST(parse(one, proxy_protocol::any).status == proxy_status::done);
  BOOST_TEST(parse(two, proxy_protocol::any).status == proxy_status::done);
  check_complete_header(one, proxy_protocol::v1);
  check_complete_header(two, proxy_protocol::v2);
  // Rejected at the first byte, which is all it takes to tell the versions apart.
  check_rejected(one, proxy_error::not_v2, proxy_protocol::v2);
  check_rejected(two, proxy_error::not_v1, proxy_protocol::v1);
  BOOST_TEST(parse(one.substr(0, 1), proxy_protocol::v2).reason == proxy_error::not_v2);
  BOOST_TEST(parse(two.substr(0, 1), proxy_protocol::v1).reason == proxy_error::not_v1);
}

BOOST_AUTO_TEST_CASE(every_reason_has_a_name) {
  for (int e = 0; e <= static_cast<int>(proxy_error::bad_length); ++e) {
    const auto name = echo::detail::to_string(static_cast<proxy_error>(e));
    BOOST_TEST(name != "?");
    BOOST_TEST(name.find_first_of(" \"\\") == std::string_view::npos);
  }
}

// ---- the peek reader ----

namespace {

constexpr auto reader_deadline = std::chrono::seconds(10);

// A connected pair of non-blocking stream sockets: `tcp` picks a loopback TCP connection,
// otherwise a Unix socketpair.
std::pair<unique_fd, unique_fd> stream_pair(bool tcp) {
  if (!tcp) {
    int sv[2];
    BOOST_TEST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    return {unique_fd(sv[0]), unique_fd(sv[1])};
  }
  unique_fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BOOST_TEST_REQUIRE(listener.get() >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  BOOST_TEST_REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
  BOOST_TEST_REQUIRE(::listen(listener.get(), 1) == 0);
  BOOST_TEST_REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  unique_fd client(echo::test::connect_nonblocking("127.0.0.1", ntohs(addr.sin_port)));
  BOOST_TEST_REQUIRE(client.get() >= 0);
  // The connection completes in the backlog; accept blocks at most until it does.
  unique_fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  BOOST_TEST_REQUIRE(server.get() >= 0);
  pollfd p{client.get(), POLLOUT, 0};
  BOOST_TEST_REQUIRE(::poll(&p, 1, 10'000) == 1);
  return {std::move(server), std::move(client)};
}

void send_all(int fd, std::string_view data) {
  const auto deadline = std::chrono::steady_clock::now() + reader_deadline;
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    BOOST_TEST_REQUIRE((n < 0 && errno == EAGAIN));
    pollfd p{fd, POLLOUT, 0};
    BOOST_TEST_REQUIRE(::poll(&p, 1, echo::test::poll_timeout_ms(deadline, 1000)) == 1);
  }
}

// Calls the reader until it reports anything but need_more, waiting for readability in
// between, as a session would.
proxy_reader::status read_header(proxy_reader& reader, int fd) {
  const auto deadline = std::chrono::steady_clock::now() + reader_deadline;
  for (int calls = 0; calls < 10'000; ++calls) {
    const auto s = reader.read(fd);
    if (s != proxy_reader::status::need_more) return s;
    pollfd p{fd, POLLIN, 0};
    const int ms = echo::test::poll_timeout_ms(deadline, 1000);
    if (ms == 0) break;
    ::poll(&p, 1, ms);
  }
  return proxy_reader::status::need_more;
}

// Everything the peer sends until it closes.
std::string read_to_eof(int fd) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + reader_deadline;
  char buf[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return out;
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (errno != EAGAIN) break;
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, echo::test::poll_timeout_ms(deadline, 1000));
  }
  BOOST_FAIL("no EOF before the deadline");
  return out;
}

const std::string v1_line = "PROXY TCP4 203.0.113.9 192.0.2.1 51000 7007\r\n";

std::string v2_with_tlvs() {
  return v2(0x21, 0x21,
            inet6_block("2001:db8::9", "2001:db8::1", 51000, 7007) + tlv(0x04, std::string(300, '\0')));
}

}  // namespace

BOOST_AUTO_TEST_CASE(reader_leaves_the_payload_untouched) {
  // A payload that starts like another header: only one header is taken.
  std::string payload = v1_line + "then the payload\r\n";
  for (int i = 0; i < 2000; ++i) payload += static_cast<char>(i * 7);
  for (const bool tcp : {false, true}) {
    for (const auto& header : {v1_line, v2_with_tlvs()}) {
      BOOST_TEST_INFO((tcp ? "tcp" : "unix") << ", header of " << header.size() << " bytes");
      auto [server, client] = stream_pair(tcp);
      send_all(client.get(), header + payload);
      ::shutdown(client.get(), SHUT_WR);
      proxy_reader reader(proxy_protocol::any);
      BOOST_TEST_REQUIRE(read_header(reader, server.get()) == proxy_reader::status::done);
      BOOST_TEST(reader.header().length == header.size());
      BOOST_TEST(reader.consumed() == header.size());
      BOOST_TEST(reader.header().addresses.has_value());
      BOOST_TEST(read_to_eof(server.get()) == payload);
    }
  }
}

BOOST_AUTO_TEST_CASE(reader_takes_a_header_split_byte_by_byte) {
  for (const auto& header : {v1_line, v2_with_tlvs(), std::string("PROXY UNKNOWN\r\n")}) {
    BOOST_TEST_INFO("header of " << header.size() << " bytes");
    auto [server, client] = stream_pair(false);
    proxy_reader reader(proxy_protocol::any);
    BOOST_TEST(reader.read(server.get()) == proxy_reader::status::need_more);  // nothing yet
    for (std::size_t i = 0; i + 1 < header.size(); ++i) {
      send_all(client.get(), header.substr(i, 1));
      BOOST_TEST_REQUIRE(reader.read(server.get()) == proxy_reader::status::need_more);
      // The partial header was taken off the socket: a waiting session is not woken again
      // until more arrives, so it does not spin.
      pollfd p{server.get(), POLLIN, 0};
      BOOST_TEST_REQUIRE(::poll(&p, 1, 0) == 0);
      BOOST_TEST(reader.consumed() == i + 1);
    }
    send_all(client.get(), header.substr(header.size() - 1) + "payload");
    ::shutdown(client.get(), SHUT_WR);
    BOOST_TEST_REQUIRE(reader.read(server.get()) == proxy_reader::status::done);
    BOOST_TEST(reader.header().length == header.size());
    BOOST_TEST(read_to_eof(server.get()) == "payload");
  }
}

BOOST_AUTO_TEST_CASE(reader_rejects_garbage_without_taking_it) {
  auto [server, client] = stream_pair(false);
  send_all(client.get(), "GET / HTTP/1.0\r\n\r\n");
  proxy_reader reader(proxy_protocol::any);
  BOOST_TEST_REQUIRE(reader.read(server.get()) == proxy_reader::status::invalid);
  BOOST_TEST(reader.header().reason == proxy_error::bad_signature);
  BOOST_TEST(reader.consumed() == 0U);

  // A valid start, then a wrong byte: the valid part was taken, the rest is left.
  auto [server2, client2] = stream_pair(false);
  proxy_reader reader2(proxy_protocol::v1);
  send_all(client2.get(), "PROXY TCP4 1.2.3.4 ");
  BOOST_TEST(reader2.read(server2.get()) == proxy_reader::status::need_more);
  send_all(client2.get(), "5.6.7.8 1 99999\r\n");
  BOOST_TEST_REQUIRE(reader2.read(server2.get()) == proxy_reader::status::invalid);
  BOOST_TEST(reader2.header().reason == proxy_error::bad_port);
  BOOST_TEST(reader2.consumed() == 19U);
}

BOOST_AUTO_TEST_CASE(reader_reports_eof_mid_header_and_before_it) {
  {
    auto [server, client] = stream_pair(false);
    send_all(client.get(), "PROXY TCP4 1.2");
    ::shutdown(client.get(), SHUT_WR);
    proxy_reader reader(proxy_protocol::any);
    BOOST_TEST(reader.read(server.get()) == proxy_reader::status::need_more);
    BOOST_TEST(reader.read(server.get()) == proxy_reader::status::eof);
    BOOST_TEST(reader.consumed() == 14U);
  }
  {
    auto [server, client] = stream_pair(true);
    client.reset();
    proxy_reader reader(proxy_protocol::any);
    BOOST_TEST(read_header(reader, server.get()) == proxy_reader::status::eof);
    BOOST_TEST(reader.consumed() == 0U);
  }
}

BOOST_AUTO_TEST_CASE(reader_reports_a_reset) {
  auto [server, client] = stream_pair(true);
  send_all(client.get(), "PROXY TCP");
  proxy_reader reader(proxy_protocol::any);
  pollfd p{server.get(), POLLIN, 0};
  BOOST_TEST_REQUIRE(::poll(&p, 1, 10'000) == 1);
  BOOST_TEST_REQUIRE(reader.read(server.get()) == proxy_reader::status::need_more);
  BOOST_TEST(reader.consumed() == 9U);
  // SO_LINGER with a zero timeout: close() sends an RST.
  const linger hard{1, 0};
  BOOST_TEST_REQUIRE(::setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard) == 0);
  client.reset();
  BOOST_TEST_REQUIRE(read_header(reader, server.get()) == proxy_reader::status::error);
  BOOST_TEST(reader.error() == boost::asio::error::connection_reset);
}
