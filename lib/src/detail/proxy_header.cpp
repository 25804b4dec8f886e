#include "detail/proxy_header.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace echo::detail {
namespace {

namespace ip = boost::asio::ip;

constexpr std::array<std::uint8_t, 12> v2_signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::size_t v2_fixed = 16;
constexpr std::string_view v1_magic = "PROXY ";

proxy_result invalid(proxy_error e) noexcept {
  proxy_result r;
  r.status = proxy_status::invalid;
  r.reason = e;
  return r;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_hex(char c) noexcept { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Dotted-quad text, one character at a time: each step says whether the text so far can
// still become a valid address, so a bad one is rejected at its first wrong character.
class ipv4_text {
 public:
  bool feed(char c) noexcept {
    if (c == '.') {
      if (digits_ == 0 || dots_ == 3) return false;
      ++dots_;
      digits_ = 0;
      value_ = 0;
      return true;
    }
    if (!is_digit(c)) return false;
    // No leading zeros: the spec forbids them so that nobody reads an octal number.
    if (digits_ == 1 && value_ == 0) return false;
    value_ = value_ * 10 + static_cast<unsigned>(c - '0');
    ++digits_;
    return value_ <= 255;
  }
  bool complete() const noexcept { return dots_ == 3 && digits_ > 0; }
  unsigned dots() const noexcept { return dots_; }

 private:
  unsigned dots_ = 0;
  unsigned digits_ = 0;
  unsigned value_ = 0;
};

// IPv6 text (RFC 4291 section 2.2: groups of 1-4 hex digits, at most one "::", an optional
// dotted-quad tail, which is what inet_ntop writes for an IPv4-mapped address), one
// character at a time, rejecting at the first character no valid address could have.
class ipv6_text {
 public:
  bool feed(char c) noexcept {
    if (in_tail_) return tail_.feed(c);
    if (c == ':') return colon();
    if (c == '.') return dot();
    if (!is_hex(c) || digits_ == 4) return false;
    if (digits_ == 0) {
      // A single leading ':' must be the start of "::".
      if (colons_ == 1 && groups_ == 0 && !double_colon_) return false;
      if (groups_ + 1 > max_groups()) return false;
    }
    group_[digits_++] = c;
    colons_ = 0;
    return true;
  }

  bool complete() const noexcept {
    if (in_tail_) return tail_.complete() && (double_colon_ ? groups_ + 2 <= 7 : groups_ + 2 == 8);
    if (colons_ == 1) return false;  // a trailing single ':'
    const unsigned total = groups_ + (digits_ > 0 ? 1 : 0);
    return double_colon_ ? total <= 7 : total == 8;
  }

 private:
  // "::" stands for at least one group of zeros.
  unsigned max_groups() const noexcept { return double_colon_ ? 7 : 8; }

  bool colon() noexcept {
    if (colons_ == 2) return false;
    if (colons_ == 1) {
      if (double_colon_) return false;
      double_colon_ = true;
      colons_ = 2;
      return true;
    }
    if (digits_ > 0) {
      ++groups_;
      digits_ = 0;
      // Another group must follow a single ':', or it becomes "::": either needs room.
      if (groups_ >= max_groups()) return false;
    }
    colons_ = 1;
    return true;
  }

  bool dot() noexcept {
    // The group being written is the tail's first octet; the tail fills two groups and
    // follows at least one ':'.
    if (digits_ == 0 || (groups_ == 0 && !double_colon_) || groups_ + 2 > max_groups()) return false;
    in_tail_ = true;
    for (unsigned i = 0; i < digits_; ++i) {
      if (!tail_.feed(group_[i])) return false;
    }
    return tail_.feed('.');
  }

  unsigned groups_ = 0;  ///< groups finished by a ':'
  unsigned digits_ = 0;  ///< digits of the group being written
  unsigned colons_ = 0;  ///< consecutive ':' just seen
  bool double_colon_ = false;
  std::array<char, 4> group_{};
  bool in_tail_ = false;
  ipv4_text tail_;
};

// A port: decimal 0-65535, no leading zeros.
class port_text {
 public:
  bool feed(char c) noexcept {
    if (!is_digit(c)) return false;
    if (digits_ == 1 && value_ == 0) return false;
    value_ = value_ * 10 + static_cast<unsigned>(c - '0');
    ++digits_;
    return value_ <= 65535;
  }
  bool complete() const noexcept { return digits_ > 0; }
  std::uint16_t value() const noexcept { return static_cast<std::uint16_t>(value_); }

 private:
  unsigned digits_ = 0;
  unsigned value_ = 0;
};

// The version 1 line, one character at a time. Each field is checked as it arrives; the
// addresses' text is kept to be converted once complete.
class v1_parser {
 public:
  /// none: the character fits (done() tells whether the line is complete).
  proxy_error feed(char c) noexcept {
    switch (state_) {
      case state::magic:
        if (c != v1_magic[pos_]) return proxy_error::bad_signature;
        if (++pos_ == v1_magic.size()) next(state::protocol);
        return proxy_error::none;
      case state::protocol: return protocol(c);
      case state::unknown_sep:
        if (c == ' ') return next(state::unknown_rest), proxy_error::none;
        if (c == '\r') return next(state::lf), proxy_error::none;
        return proxy_error::bad_protocol;
      case state::unknown_rest:
        // The spec has the receiver ignore everything up to the CRLF, but not a lone LF.
        if (c == '\r') return next(state::lf), proxy_error::none;
        if (c == '\n') return proxy_error::bad_syntax;
        return proxy_error::none;
      case state::source: return address(c, state::destination);
      case state::destination: return address(c, state::source_port);
      case state::source_port: return port(c, state::destination_port);
      case state::destination_port: return port(c, state::lf);
      case state::lf:
        if (c != '\n') return proxy_error::bad_syntax;
        return next(state::complete), proxy_error::none;
      case state::complete: return proxy_error::bad_syntax;
    }
    return proxy_error::bad_syntax;
  }

  bool done() const noexcept { return state_ == state::complete; }
  /// The fewest characters that could still end the line.
  std::size_t min_remaining() const noexcept { return state_ == state::lf ? 1 : 2; }

  std::optional<proxy_addresses> addresses() const noexcept {
    if (!tcp_) return std::nullopt;
    boost::system::error_code ec_src;
    boost::system::error_code ec_dst;
    const auto src = ip::make_address(std::string_view(text_[0].data(), text_len_[0]), ec_src);
    const auto dst = ip::make_address(std::string_view(text_[1].data(), text_len_[1]), ec_dst);
    if (ec_src || ec_dst) return std::nullopt;
    return proxy_addresses{{src, ports_[0].value()}, {dst, ports_[1].value()}};
  }

  /// For a TCP line, whether the system's converter agrees with the checks above.
  bool addresses_convert() const noexcept { return !tcp_ || addresses().has_value(); }

 private:
  enum class state : std::uint8_t {
    magic,
    protocol,
    unknown_sep,
    unknown_rest,
    source,
    destination,
    source_port,
    destination_port,
    lf,
    complete,
  };

  void next(state s) noexcept {
    state_ = s;
    pos_ = 0;
  }

  proxy_error protocol(char c) noexcept {
    static constexpr std::string_view tcp = "TCP";
    static constexpr std::string_view unknown = "UNKNOWN";
    if (pos_ < tcp.size() && c == tcp[pos_] && !unknown_) return ++pos_, proxy_error::none;
    if (pos_ == 0 && c == 'U') return unknown_ = true, ++pos_, proxy_error::none;
    if (unknown_) {
      if (c != unknown[pos_]) return proxy_error::bad_protocol;
      if (++pos_ == unknown.size()) next(state::unknown_sep);
      return proxy_error::none;
    }
    if (pos_ == tcp.size() && (c == '4' || c == '6')) {
      v6_ = c == '6';
      return ++pos_, proxy_error::none;
    }
    if (pos_ == tcp.size() + 1 && c == ' ') {
      tcp_ = true;
      return next(state::source), proxy_error::none;
    }
    // "PROXY  TCP4", "PROXY TCP4\r\n": a space out of place or fields missing.
    const bool fields_missing = pos_ == tcp.size() + 1 && (c == '\r' || c == '\n');
    return c == ' ' || fields_missing ? proxy_error::bad_syntax : proxy_error::bad_protocol;
  }

  proxy_error address(char c, state after) noexcept {
    const std::size_t which = state_ == state::source ? 0 : 1;
    if (c == ' ') {
      if (text_len_[which] == 0) return proxy_error::bad_syntax;  // two spaces
      const bool complete = v6_ ? v6_text_[which].complete() : v4_text_[which].complete();
      if (!complete) return proxy_error::bad_address;
      return next(after), proxy_error::none;
    }
    if (c == '\r' || c == '\n') return proxy_error::bad_syntax;  // fields missing
    const bool fits = v6_ ? v6_text_[which].feed(c) : v4_text_[which].feed(c);
    if (!fits || text_len_[which] == text_[which].size()) return proxy_error::bad_address;
    text_[which][text_len_[which]++] = c;
    return proxy_error::none;
  }

  proxy_error port(char c, state after) noexcept {
    const std::size_t which = state_ == state::source_port ? 0 : 1;
    const char end = which == 0 ? ' ' : '\r';
    if (c == ' ' || c == '\r' || c == '\n') {
      // A separator other than the expected one: a field missing or one too many.
      if (c != end || !ports_[which].complete()) return proxy_error::bad_syntax;
      return next(after), proxy_error::none;
    }
    return ports_[which].feed(c) ? proxy_error::none : proxy_error::bad_port;
  }

  state state_ = state::magic;
  std::size_t pos_ = 0;
  bool unknown_ = false;
  bool tcp_ = false;
  bool v6_ = false;
  std::array<ipv4_text, 2> v4_text_{};
  std::array<ipv6_text, 2> v6_text_{};
  // The longest valid IPv6 text, with a dotted tail, is 45 characters.
  std::array<std::array<char, 46>, 2> text_{};
  std::array<std::size_t, 2> text_len_{};
  std::array<port_text, 2> ports_{};
};

proxy_result parse_v1(std::span<const std::byte> data) noexcept {
  v1_parser p;
  const std::size_t n = std::min(data.size(), max_proxy_v1_header);
  for (std::size_t i = 0; i < n; ++i) {
    if (const auto e = p.feed(static_cast<char>(data[i])); e != proxy_error::none) return invalid(e);
    if (p.done()) {
      // The checks above accept exactly what inet_pton accepts; this keeps a mismatch from
      // ever reaching the caller as an address.
      if (!p.addresses_convert()) return invalid(proxy_error::bad_address);
      proxy_result r;
      r.status = proxy_status::done;
      r.length = i + 1;
      r.version = 1;
      r.command = proxy_command::proxy;
      r.addresses = p.addresses();
      return r;
    }
    // Decided as soon as the line can no longer end in time, not when byte 108 arrives.
    if (i + 1 + p.min_remaining() > max_proxy_v1_header) return invalid(proxy_error::too_long);
  }
  return {};
}

std::uint16_t be16(std::span<const std::byte> d, std::size_t at) noexcept {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(d[at]) << 8 |
                                    std::to_integer<unsigned>(d[at + 1]));
}

// The address block a family/protocol byte implies, or nullopt if the spec defines no
// such byte.
std::optional<std::size_t> v2_address_length(std::uint8_t family) noexcept {
  switch (family) {
    case 0x00: return 0;  // UNSPEC
    case 0x11:
    case 0x12: return 12;  // INET STREAM, DGRAM: 2 * 4 + 2 * 2
    case 0x21:
    case 0x22: return 36;  // INET6: 2 * 16 + 2 * 2
    case 0x31:
    case 0x32: return 216;  // UNIX: 2 * 108
    default: return std::nullopt;
  }
}

proxy_result parse_v2(std::span<const std::byte> data) noexcept {
  const std::size_t sig = std::min(data.size(), v2_signature.size());
  for (std::size_t i = 0; i < sig; ++i) {
    if (std::to_integer<std::uint8_t>(data[i]) != v2_signature[i]) return invalid(proxy_error::bad_signature);
  }
  if (data.size() <= 12) return {};
  const auto ver_cmd = std::to_integer<std::uint8_t>(data[12]);
  if ((ver_cmd >> 4) != 2) return invalid(proxy_error::bad_version);
  const auto command = ver_cmd & 0x0FU;
  if (command > 1) return invalid(proxy_error::bad_command);
  const bool local = command == 0;
  if (data.size() <= 13) return {};
  const auto family = std::to_integer<std::uint8_t>(data[13]);
  // LOCAL: "discard the protocol block including the family which is ignored".
  const auto needed = v2_address_length(family);
  if (!local && !needed) return invalid(proxy_error::bad_family);
  if (data.size() < v2_fixed) return {};
  const std::size_t block = be16(data, 14);
  if (v2_fixed + block > max_proxy_v2_header) return invalid(proxy_error::too_long);
  // TLVs may follow the addresses; they are skipped unread, so they are not checked.
  if (!local && block < *needed) return invalid(proxy_error::bad_length);
  if (data.size() < v2_fixed + block) return {};

  proxy_result r;
  r.status = proxy_status::done;
  r.length = v2_fixed + block;
  r.version = 2;
  r.command = local ? proxy_command::local : proxy_command::proxy;
  const auto a = data.subspan(v2_fixed);
  if (!local && family == 0x11) {
    const auto v4 = [&](std::size_t at) {
      ip::address_v4::bytes_type b;
      std::memcpy(b.data(), a.data() + at, b.size());
      return ip::address_v4(b);
    };
    r.addresses = proxy_addresses{{v4(0), be16(a, 8)}, {v4(4), be16(a, 10)}};
  } else if (!local && family == 0x21) {
    const auto v6 = [&](std::size_t at) {
      ip::address_v6::bytes_type b;
      std::memcpy(b.data(), a.data() + at, b.size());
      return ip::address_v6(b);
    };
    r.addresses = proxy_addresses{{v6(0), be16(a, 32)}, {v6(16), be16(a, 34)}};
  }
  // Anything else is valid but says nothing we could use for a TCP peer: UNSPEC, UNIX, and
  // DGRAM (the spec lets a receiver treat what it does not implement as UNSPEC).
  return r;
}

}  // namespace

proxy_result parse_proxy_header(std::span<const std::byte> data, proxy_protocol accepted) noexcept {
  if (accepted == proxy_protocol::off) return invalid(proxy_error::bad_signature);
  if (data.empty()) return {};
  // The first byte tells the versions apart: 'P' starts v1, CR starts the v2 signature.
  const auto first = std::to_integer<std::uint8_t>(data[0]);
  if (first == static_cast<std::uint8_t>(v1_magic[0])) {
    if (accepted == proxy_protocol::v2) return invalid(proxy_error::not_v2);
    return parse_v1(data);
  }
  if (first == v2_signature[0]) {
    if (accepted == proxy_protocol::v1) return invalid(proxy_error::not_v1);
    return parse_v2(data);
  }
  return invalid(proxy_error::bad_signature);
}

std::string_view to_string(proxy_error e) noexcept {
  switch (e) {
    case proxy_error::none: return "none";
    case proxy_error::bad_signature: return "bad_signature";
    case proxy_error::not_v1: return "not_v1";
    case proxy_error::not_v2: return "not_v2";
    case proxy_error::bad_protocol: return "bad_protocol";
    case proxy_error::bad_address: return "bad_address";
    case proxy_error::bad_port: return "bad_port";
    case proxy_error::bad_syntax: return "bad_syntax";
    case proxy_error::too_long: return "too_long";
    case proxy_error::bad_version: return "bad_version";
    case proxy_error::bad_command: return "bad_command";
    case proxy_error::bad_family: return "bad_family";
    case proxy_error::bad_length: return "bad_length";
  }
  return "?";
}

std::string_view to_string(proxy_status s) noexcept {
  switch (s) {
    case proxy_status::need_more: return "need_more";
    case proxy_status::done: return "done";
    case proxy_status::invalid: return "invalid";
  }
  return "?";
}

}  // namespace echo::detail
