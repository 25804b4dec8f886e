#include "echo/fault_spec.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "echo/config_error.hpp"
#include "echo/config_parser.hpp"
#include "echo/usage_error.hpp"

namespace echo {
namespace {

constexpr std::array<std::pair<fault_kind, std::string_view>, fault_kind_count> names{{
    {fault_kind::latency, "latency"},
    {fault_kind::bandwidth, "bandwidth"},
    {fault_kind::slice, "slice"},
    {fault_kind::close_after, "close-after"},
    {fault_kind::reset_after, "reset-after"},
    {fault_kind::stall, "stall"},
    {fault_kind::blackhole, "blackhole"},
    {fault_kind::slow_read, "slow-read"},
    {fault_kind::slow_close, "slow-close"},
    {fault_kind::early_fin, "early-fin"},
    {fault_kind::hold_close_wait, "hold-close-wait"},
    {fault_kind::no_accept, "no-accept"},
    {fault_kind::refuse, "refuse"},
    {fault_kind::accept_delay, "accept-delay"},
    {fault_kind::banner, "banner"},
    {fault_kind::corrupt, "corrupt"},
    {fault_kind::garbage_then_close, "garbage-then-close"},
    {fault_kind::amplify, "amplify"},
}};

// Bounds that keep a typo from becoming a resource problem.
constexpr std::uint64_t max_bytes = 1ULL << 40;
constexpr std::uint64_t max_slice = 16ULL << 20;
constexpr std::size_t max_banner = 64 * 1024;
constexpr unsigned max_factor = 64;

std::optional<std::uint64_t> decimal(std::string_view text) noexcept {
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  std::uint64_t v = 0;
  const auto* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc{} || p != end) return std::nullopt;
  return v;
}

std::string format_byte_count(std::uint64_t bytes) {
  for (const auto& [shift, unit] : {std::pair{30, "GiB"}, std::pair{20, "MiB"}, std::pair{10, "KiB"}}) {
    const auto scale = 1ULL << shift;
    if (bytes != 0 && bytes % scale == 0) return fmt::format("{}{}", bytes / scale, unit);
  }
  return std::to_string(bytes);
}

// Escapes what the SPEC syntax gives a meaning to (',' ends a value) and what a terminal
// would not show.
std::string escape_text(std::string_view text) {
  std::string out;
  for (const char ch : text) {
    const auto u = static_cast<unsigned char>(ch);
    switch (ch) {
      case '\r': out += "\\r"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\\': out += "\\\\"; break;
      case ',': out += "\\,"; break;
      default:
        // '#' too: a config file would take the rest of the line for a comment.
        if (u < 0x20 || u >= 0x7f || ch == '#') out += fmt::format("\\x{:02x}", u);
        else out += ch;
    }
  }
  return out;
}

class spec_reader {
 public:
  explicit spec_reader(std::string_view spec) : spec_(spec) {}

  [[noreturn]] void fail(std::string_view why) const {
    throw usage_error(fmt::format("invalid fault '{}': {}", spec_, why));
  }

  fault_spec read() {
    fault_spec f;
    auto rest = spec_;
    const auto colon = rest.find(':');
    const auto name = rest.substr(0, colon);
    const auto kind = kind_of(name);
    if (!kind) fail(fmt::format("unknown fault '{}' (see --help for the list)", name));
    f.kind = *kind;
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    if (colon != std::string_view::npos && rest.empty()) fail("nothing after ':'");
    std::uint32_t seen = 0;
    while (!rest.empty()) {
      const auto [key, value, next] = next_item(rest);
      rest = next;
      apply(f, key, value, seen);
    }
    check_required(f, seen);
    return f;
  }

 private:
  struct item {
    std::string_view key;
    std::string value;  // unescaped
    std::string_view rest;
  };

  // One KEY=VALUE; a backslash escapes the next character (so "\," stays in the value).
  item next_item(std::string_view rest) const {
    const auto eq = rest.find('=');
    const auto comma = rest.find(',');
    if (eq == std::string_view::npos || (comma != std::string_view::npos && comma < eq))
      fail(fmt::format("'{}' has no value: expected KEY=VALUE", rest.substr(0, comma)));
    item it{rest.substr(0, eq), {}, {}};
    if (it.key.empty()) fail("a key is empty");
    std::size_t i = eq + 1;
    for (; i < rest.size() && rest[i] != ','; ++i) {
      if (rest[i] != '\\') {
        it.value += rest[i];
        continue;
      }
      if (++i == rest.size()) fail("a value ends in a lone backslash");
      switch (rest[i]) {
        case 'r': it.value += '\r'; break;
        case 'n': it.value += '\n'; break;
        case 't': it.value += '\t'; break;
        case '\\':
        case ',': it.value += rest[i]; break;
        case 'x': {
          unsigned byte = 0;
          const auto hex = rest.substr(i + 1, 2);
          const auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), byte, 16);
          if (hex.size() != 2 || ec != std::errc{} || p != hex.data() + 2)
            fail("\\x needs two hex digits, e.g. \\x00");
          it.value += static_cast<char>(byte);
          i += 2;
          break;
        }
        default: fail(fmt::format("unknown escape '\\{}': expected \\r \\n \\t \\\\ \\, or \\xHH", rest[i]));
      }
    }
    if (i < rest.size()) {
      ++i;  // the comma
      if (i == rest.size()) fail("a trailing ',' with no key after it");
    }
    it.rest = rest.substr(i);
    return it;
  }

  enum key_bit : std::uint32_t {
    k_listener = 1U << 0,
    k_probability = 1U << 1,
    k_after = 1U << 2,
    k_count = 1U << 3,
    k_match = 1U << 4,
    k_delay = 1U << 5,
    k_jitter = 1U << 6,
    k_rate = 1U << 7,
    k_size = 1U << 8,
    k_bytes = 1U << 9,
    k_time = 1U << 10,
    k_text = 1U << 11,
    k_factor = 1U << 12,
    k_after_bytes = 1U << 13,
  };

  // The keys of its own that each fault takes.
  static std::uint32_t own_keys(fault_kind k) noexcept {
    switch (k) {
      case fault_kind::latency: return k_delay | k_jitter;
      case fault_kind::bandwidth: return k_rate;
      case fault_kind::slice: return k_size | k_delay;
      case fault_kind::close_after:
      case fault_kind::reset_after: return k_bytes | k_time;
      case fault_kind::stall:
      case fault_kind::early_fin: return k_after_bytes;
      case fault_kind::slow_read: return k_rate;
      case fault_kind::slow_close:
      case fault_kind::accept_delay: return k_delay;
      case fault_kind::banner: return k_text;
      case fault_kind::corrupt: return k_rate;
      case fault_kind::garbage_then_close: return k_bytes;
      case fault_kind::amplify: return k_factor;
      case fault_kind::blackhole:
      case fault_kind::hold_close_wait:
      case fault_kind::no_accept:
      case fault_kind::refuse: return 0;
    }
    return 0;
  }

  static std::uint32_t common_keys(fault_kind k) noexcept {
    return is_listener_fault(k) ? k_listener : k_listener | k_probability | k_after | k_count | k_match;
  }

  static std::optional<fault_kind> kind_of(std::string_view name) noexcept {
    for (const auto& [k, n] : names)
      if (n == name) return k;
    return std::nullopt;
  }

  static std::optional<std::uint32_t> key_of(std::string_view key) noexcept {
    constexpr std::array<std::pair<std::string_view, std::uint32_t>, 14> keys{{
        {"listener", k_listener},
        {"probability", k_probability},
        {"after", k_after},
        {"count", k_count},
        {"match", k_match},
        {"delay", k_delay},
        {"jitter", k_jitter},
        {"rate", k_rate},
        {"size", k_size},
        {"bytes", k_bytes},
        {"time", k_time},
        {"text", k_text},
        {"factor", k_factor},
        {"after-bytes", k_after_bytes},
    }};
    for (const auto& [name, bit] : keys)
      if (name == key) return bit;
    return std::nullopt;
  }

  std::chrono::milliseconds duration(std::string_view key, const std::string& value) const {
    try {
      return parse_duration(value);
    } catch (const usage_error&) {
      fail(fmt::format("invalid {} '{}': expected a duration, e.g. 50ms, 2s", key, value));
    }
  }

  std::uint64_t byte_count(std::string_view key, const std::string& value) const {
    std::size_t i = 0;
    while (i < value.size() && value[i] >= '0' && value[i] <= '9') ++i;
    const auto v = decimal(std::string_view(value).substr(0, i));
    const std::string_view unit = std::string_view(value).substr(i);
    std::uint64_t scale = 0;
    if (unit.empty() || unit == "B") scale = 1;
    else if (unit == "KiB" || unit == "K" || unit == "k") scale = 1ULL << 10;
    else if (unit == "MiB" || unit == "M" || unit == "m") scale = 1ULL << 20;
    else if (unit == "GiB" || unit == "G" || unit == "g") scale = 1ULL << 30;
    if (!v || scale == 0 || *v > max_bytes / scale)
      fail(fmt::format("invalid {} '{}': expected bytes up to 1TiB, e.g. 4096, 64KiB, 1MiB", key, value));
    return *v * scale;
  }

  std::uint64_t number(std::string_view key, const std::string& value) const {
    const auto v = decimal(value);
    if (!v) fail(fmt::format("invalid {} '{}': expected a count of connections", key, value));
    return *v;
  }

  double fraction(std::string_view key, const std::string& value) const {
    double v = -1;
    const auto* end = value.data() + value.size();
    const auto [p, ec] = std::from_chars(value.data(), end, v);
    if (value.empty() || ec != std::errc{} || p != end || !std::isfinite(v) || v < 0 || v > 1)
      fail(fmt::format("invalid {} '{}': expected a number from 0 to 1, e.g. 0.25", key, value));
    return v;
  }

  void apply(fault_spec& f, std::string_view key, const std::string& value, std::uint32_t& seen) const {
    const auto bit = key_of(key);
    if (!bit) fail(fmt::format("unknown key '{}'", key));
    if ((*bit & (own_keys(f.kind) | common_keys(f.kind))) == 0)
      fail(fmt::format("{} takes no '{}'", to_string(f.kind), key));
    if (seen & *bit) fail(fmt::format("key '{}' given twice", key));
    seen |= *bit;
    switch (*bit) {
      case k_listener:
        if (value.empty()) fail("listener is empty");
        f.listener = value;
        break;
      case k_probability: f.probability = fraction(key, value); break;
      case k_after: f.after = number(key, value); break;
      case k_count: f.count = number(key, value); break;
      case k_match: f.match = range(value); break;
      case k_delay: f.delay = duration(key, value); break;
      case k_jitter: f.jitter = duration(key, value); break;
      case k_rate:
        if (f.kind == fault_kind::corrupt) {
          f.ratio = fraction(key, value);
          if (f.ratio == 0) fail("a corrupt rate of 0 corrupts nothing: expected more than 0, e.g. 0.001");
        } else {
          f.rate = byte_count(key, value);
          if (f.rate == 0) fail("a rate of 0 would never send: expected bytes per second, e.g. 64KiB");
        }
        break;
      case k_size: read_size(f, value); break;
      case k_bytes:
      case k_after_bytes: f.bytes = byte_count(key, value); break;
      case k_time: f.time = duration(key, value); break;
      case k_text:
        if (value.empty() || value.size() > max_banner) fail("text must be 1 byte to 64KiB");
        f.text = value;
        break;
      case k_factor: {
        const auto n = decimal(value);
        if (!n || *n < 2 || *n > max_factor)
          fail(fmt::format("invalid factor '{}': expected copies from 2 to {}", value, max_factor));
        f.factor = static_cast<unsigned>(*n);
        break;
      }
      default: fail(fmt::format("unknown key '{}'", key));
    }
  }

  void read_size(fault_spec& f, const std::string& value) const {
    const auto dash = value.find('-');
    const auto lo = byte_count("size", value.substr(0, dash));
    const auto hi = dash == std::string::npos ? lo : byte_count("size", value.substr(dash + 1));
    if (lo == 0 || hi < lo || hi > max_slice)
      fail(fmt::format("invalid size '{}': expected N or MIN-MAX bytes, 1 to 16MiB, e.g. 1 or 1-64", value));
    f.size_min = lo;
    f.size_max = hi;
  }

  address_range range(const std::string& value) const {
    const auto slash = value.find('/');
    const auto bad = [&] {
      fail(fmt::format("invalid match '{}': expected an address or a CIDR range, e.g. 10.0.0.0/8, ::1/128",
                       value));
    };
    boost::system::error_code ec;
    auto a = boost::asio::ip::make_address(value.substr(0, slash), ec);
    if (ec) bad();
    const unsigned width = a.is_v4() ? 32 : 128;
    unsigned prefix = width;
    if (slash != std::string::npos) {
      const auto n = decimal(std::string_view(value).substr(slash + 1));
      if (!n || *n > width) bad();
      prefix = static_cast<unsigned>(*n);
    }
    return {a, prefix};
  }

  void check_required(fault_spec& f, std::uint32_t seen) const {
    const auto need = [&](std::uint32_t bit, std::string_view what) {
      if ((seen & bit) == 0) fail(fmt::format("{} needs {}", to_string(f.kind), what));
    };
    switch (f.kind) {
      case fault_kind::latency:
        need(k_delay, "delay=, e.g. latency:delay=50ms");
        if (f.jitter > f.delay) fail("jitter must not exceed delay");
        break;
      case fault_kind::bandwidth: need(k_rate, "rate=, e.g. bandwidth:rate=64KiB"); break;
      case fault_kind::slow_read: need(k_rate, "rate=, e.g. slow-read:rate=1KiB"); break;
      case fault_kind::slice: need(k_size, "size=, e.g. slice:size=1 or slice:size=1-64,delay=1ms"); break;
      case fault_kind::close_after:
      case fault_kind::reset_after:
        if (((seen & k_bytes) != 0) == ((seen & k_time) != 0))
          fail(fmt::format("{} needs bytes= or time=, not both", to_string(f.kind)));
        break;
      case fault_kind::slow_close: need(k_delay, "delay=, e.g. slow-close:delay=2s"); break;
      case fault_kind::accept_delay: need(k_delay, "delay=, e.g. accept-delay:delay=1s"); break;
      case fault_kind::banner: need(k_text, "text=, e.g. banner:text=220 ready\\r\\n"); break;
      case fault_kind::corrupt: need(k_rate, "rate=, the chance per byte, e.g. corrupt:rate=0.001"); break;
      case fault_kind::garbage_then_close:
        need(k_bytes, "bytes=, e.g. garbage-then-close:bytes=100");
        if (f.bytes == 0U) fail("garbage-then-close needs at least 1 byte");
        break;
      case fault_kind::amplify: need(k_factor, "factor=, e.g. amplify:factor=2"); break;
      case fault_kind::stall:
      case fault_kind::early_fin:
        // One spelling of "at once", so that format and parse round-trip.
        if (f.bytes == 0U) f.bytes.reset();
        break;
      case fault_kind::blackhole:
      case fault_kind::hold_close_wait:
      case fault_kind::no_accept:
      case fault_kind::refuse: break;
    }
  }

  std::string_view spec_;
};

}  // namespace

std::string_view to_string(fault_kind kind) noexcept {
  for (const auto& [k, n] : names)
    if (k == kind) return n;
  return "?";
}

bool is_integrity_fault(fault_kind kind) noexcept {
  return kind == fault_kind::corrupt || kind == fault_kind::garbage_then_close || kind == fault_kind::amplify;
}

bool is_listener_fault(fault_kind kind) noexcept {
  return kind == fault_kind::no_accept || kind == fault_kind::refuse;
}

bool address_range::contains(const boost::asio::ip::address& a) const noexcept {
  auto candidate = a;
  // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d.
  if (network.is_v4() && a.is_v6() && a.to_v6().is_v4_mapped())
    candidate = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  if (candidate.is_v4() != network.is_v4()) return false;
  const auto bytes_of = [](const boost::asio::ip::address& x) {
    std::array<unsigned char, 16> b{};
    if (x.is_v4()) {
      const auto v4 = x.to_v4().to_bytes();
      std::copy(v4.begin(), v4.end(), b.begin());
    } else {
      b = x.to_v6().to_bytes();
    }
    return b;
  };
  const auto x = bytes_of(candidate), n = bytes_of(network);
  unsigned left = prefix;
  for (std::size_t i = 0; left > 0; ++i) {
    const unsigned bits = left >= 8 ? 8 : left;
    const auto mask = static_cast<unsigned char>(0xff00U >> bits);
    if ((x[i] & mask) != (n[i] & mask)) return false;
    left -= bits;
  }
  return true;
}

fault_spec parse_fault_spec(std::string_view spec) { return spec_reader(spec).read(); }

std::string format_fault_spec(const fault_spec& f) {
  std::string out(to_string(f.kind));
  char sep = ':';
  const auto key = [&](std::string_view k, const std::string& v) {
    out += fmt::format("{}{}={}", sep, k, v);
    sep = ',';
  };
  switch (f.kind) {
    case fault_kind::latency:
      key("delay", format_duration(f.delay));
      if (f.jitter.count() != 0) key("jitter", format_duration(f.jitter));
      break;
    case fault_kind::bandwidth:
    case fault_kind::slow_read: key("rate", format_byte_count(f.rate)); break;
    case fault_kind::slice:
      key("size", f.size_min == f.size_max
                      ? format_byte_count(f.size_min)
                      : fmt::format("{}-{}", format_byte_count(f.size_min), format_byte_count(f.size_max)));
      if (f.delay.count() != 0) key("delay", format_duration(f.delay));
      break;
    case fault_kind::close_after:
    case fault_kind::reset_after:
      if (f.bytes) key("bytes", format_byte_count(*f.bytes));
      if (f.time) key("time", format_duration(*f.time));
      break;
    case fault_kind::stall:
    case fault_kind::early_fin:
      if (f.bytes && *f.bytes != 0) key("after-bytes", format_byte_count(*f.bytes));
      break;
    case fault_kind::slow_close:
    case fault_kind::accept_delay: key("delay", format_duration(f.delay)); break;
    case fault_kind::banner: key("text", escape_text(f.text)); break;
    case fault_kind::corrupt: key("rate", fmt::format("{}", f.ratio)); break;
    case fault_kind::garbage_then_close: key("bytes", format_byte_count(f.bytes.value_or(0))); break;
    case fault_kind::amplify: key("factor", std::to_string(f.factor)); break;
    case fault_kind::blackhole:
    case fault_kind::hold_close_wait:
    case fault_kind::no_accept:
    case fault_kind::refuse: break;
  }
  if (!f.listener.empty()) key("listener", escape_text(f.listener));
  if (f.probability != 1.0) key("probability", fmt::format("{}", f.probability));
  if (f.after != 0) key("after", std::to_string(f.after));
  if (f.count) key("count", std::to_string(*f.count));
  if (f.match) key("match", fmt::format("{}/{}", f.match->network.to_string(), f.match->prefix));
  return out;
}

void validate_faults(const std::vector<fault_spec>& faults, bool allow_corruption) {
  for (const auto& f : faults) {
    if (is_integrity_fault(f.kind) && !allow_corruption)
      throw config_error("fault",
                         fmt::format("fault '{}' breaks the echo's bytes: it needs --allow-corruption",
                                     format_fault_spec(f)));
    if (!(f.probability >= 0 && f.probability <= 1))
      throw config_error("fault",
                         fmt::format("fault '{}': probability must be 0 to 1", format_fault_spec(f)));
    if (is_listener_fault(f.kind) && (f.probability != 1.0 || f.after != 0 || f.count || f.match))
      throw config_error("fault", fmt::format("fault '{}' acts on the listener: it takes only listener=",
                                              format_fault_spec(f)));
  }
}

}  // namespace echo
