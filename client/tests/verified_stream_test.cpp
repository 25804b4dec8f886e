#define BOOST_TEST_MODULE verified_stream
#include <boost/test/unit_test.hpp>

#include "echo/client/verified_stream.hpp"

#include <array>
#include <cerrno>
#include <ostream>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

using echo::client::pattern;
using echo::client::stream_error;
using echo::client::verified_stream;
using kind = verified_stream::step::kind;

namespace echo::client {
// Lets BOOST_TEST print the kind when a comparison fails.
std::ostream& boost_test_print_type(std::ostream& os, stream_error e) { return os << to_string(e); }
}  // namespace echo::client

namespace {

// A connected pair of non-blocking stream sockets: `client` is the verifying side,
// `server` plays the echo server (or a broken one).
struct socket_pair {
  socket_pair() {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    client = fds[0];
    server = fds[1];
  }
  ~socket_pair() {
    if (client >= 0) ::close(client);
    if (server >= 0) ::close(server);
  }
  socket_pair(const socket_pair&) = delete;
  socket_pair& operator=(const socket_pair&) = delete;

  /// Reads what the client sent and writes it back, `corrupt_at` flipped if given.
  std::size_t echo(std::size_t corrupt_at = static_cast<std::size_t>(-1)) {
    std::array<std::byte, 4096> buf{};
    const ssize_t n = ::recv(server, buf.data(), buf.size(), 0);
    if (n <= 0) return 0;
    if (corrupt_at < static_cast<std::size_t>(n)) buf[corrupt_at] ^= std::byte{0x40};
    return static_cast<std::size_t>(::send(server, buf.data(), static_cast<std::size_t>(n), 0));
  }

  int client = -1;
  int server = -1;
};

constexpr std::uint64_t seed = 0xC0FFEE;

}  // namespace

BOOST_AUTO_TEST_CASE(echo_verifies_and_ends_cleanly_after_half_close) {
  socket_pair p;
  verified_stream s(seed);
  std::vector<std::byte> scratch(1000), in(4096);
  BOOST_TEST(verified_stream::connect_result(p.client) == stream_error::none);
  auto st = s.send(p.client, 1000, scratch);
  BOOST_TEST((st.what == kind::moved));
  BOOST_TEST(st.bytes == 1000u);
  BOOST_TEST(s.outstanding() == 1000u);
  BOOST_TEST(p.echo() == 1000u);
  st = s.receive(p.client, in);
  BOOST_TEST((st.what == kind::moved));
  BOOST_TEST(st.bytes == 1000u);
  BOOST_TEST(s.received() == 1000u);
  BOOST_TEST((s.receive(p.client, in).what == kind::blocked));
  BOOST_TEST((s.half_close(p.client).what == kind::moved));
  BOOST_TEST(s.half_closed());
  ::shutdown(p.server, SHUT_WR);
  BOOST_TEST((s.receive(p.client, in).what == kind::ended));
}

BOOST_AUTO_TEST_CASE(what_is_sent_is_the_connection_pattern) {
  socket_pair p;
  verified_stream s(seed);
  std::vector<std::byte> scratch(300), got(300), expected(300);
  s.send(p.client, 100, scratch);
  s.send(p.client, 200, scratch);
  BOOST_REQUIRE(::recv(p.server, got.data(), got.size(), 0) == 300);
  pattern(seed).fill(0, expected.data(), expected.size());
  BOOST_TEST(got == expected);
}

BOOST_AUTO_TEST_CASE(a_wrong_byte_is_a_mismatch_at_its_offset) {
  socket_pair p;
  verified_stream s(seed);
  std::vector<std::byte> scratch(500), in(4096);
  s.send(p.client, 500, scratch);
  p.echo(123);
  const auto st = s.receive(p.client, in);
  BOOST_TEST((st.what == kind::failed));
  BOOST_TEST((st.error == stream_error::mismatch));
  BOOST_TEST(st.bytes == 123u);
  BOOST_TEST(s.received() == 0u);
}

BOOST_AUTO_TEST_CASE(bytes_never_sent_are_extra) {
  verified_stream s(seed);
  std::array<std::byte, 4> none{};
  const auto st = s.verify(none);
  BOOST_TEST((st.what == kind::failed));
  BOOST_TEST((st.error == stream_error::extra_bytes));
}

BOOST_AUTO_TEST_CASE(eof_before_the_whole_echo_or_our_fin_is_short) {
  for (const bool half_close : {false, true}) {
    socket_pair p;
    verified_stream s(seed);
    std::vector<std::byte> scratch(64), in(4096);
    s.send(p.client, 64, scratch);
    if (half_close) s.half_close(p.client);
    ::shutdown(p.server, SHUT_WR);  // the server ends without echoing
    const auto st = s.receive(p.client, in);
    BOOST_TEST((st.what == kind::failed));
    BOOST_TEST((st.error == stream_error::short_echo));
  }
}

BOOST_AUTO_TEST_CASE(socket_errors_are_classified) {
  socket_pair p;
  verified_stream s(seed);
  std::vector<std::byte> scratch(64);
  ::close(p.server);
  p.server = -1;
  const auto st = s.send(p.client, 64, scratch);
  BOOST_TEST((st.what == kind::failed));
  BOOST_TEST((st.error == stream_error::reset));
  BOOST_TEST(st.sys_error == EPIPE);
  BOOST_TEST((echo::client::from_errno(ETIMEDOUT) == stream_error::timeout));
  BOOST_TEST((echo::client::from_errno(EBADF) == stream_error::io));
}

BOOST_AUTO_TEST_CASE(window_end_saturates) {
  const verified_stream s(seed);
  BOOST_TEST(s.window_end(512) == 512u);
  BOOST_TEST(s.window_end(~std::uint64_t{0}) == ~std::uint64_t{0});
}
