#define BOOST_TEST_MODULE splice
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <thread>

#include "detail/pipe_pool.hpp"
#include "echo/config.hpp"
#include "echo/listen_url.hpp"
#include "echo_client.hpp"
#include "server_fixture.hpp"
#include "socket_util.hpp"

using namespace std::chrono_literals;
using echo::client::stream_error;
using echo::detail::pipe_pool;
using echo::test::connect_unix;
using echo::test::echo_client;
using echo::test::server_fixture;
using echo::test::sessions_drop_to;

namespace {

constexpr std::size_t small = 64;
constexpr std::size_t large = 64 * 1024;
constexpr int rounds = 300;

echo::config with_splice(echo::splice_mode mode) {
  auto cfg = server_fixture::default_config();
  cfg.splice = mode;
  return cfg;
}

// Alternates 64 B and 64 KiB echoes on one connection, each checked byte for byte, so the
// session moves between the copying and the splice path at every message; then a half-close
// must be answered after the last byte.
void alternate(echo_client& c) {
  for (int i = 0; i < rounds; ++i) {
    const auto seed = static_cast<std::uint64_t>(i);
    BOOST_REQUIRE((c.echo_pattern(seed, i % 2 == 0 ? small : large) == stream_error::none));
  }
  c.shutdown_write();
  BOOST_TEST((c.wait_end() == echo_client::end::eof));
}

constexpr std::uint64_t alternated_bytes = (rounds / 2) * (small + large);

void switches_byte_exact_over_tcp(unsigned threads) {
  server_fixture f(threads, with_splice(echo::splice_mode::automatic));
  {
    echo_client c("127.0.0.1", f.port());
    alternate(c);
  }
  BOOST_TEST(sessions_drop_to(f, 0, 5s));
  BOOST_TEST(f.server().bytes().received == alternated_bytes);
  BOOST_TEST(f.server().bytes().sent == alternated_bytes);
  // The large reads went through a pipe: one exists now, idle in a thread's cache.
  BOOST_TEST(pipe_pool::live() >= 1U);
  BOOST_TEST(pipe_pool::live() <= threads * pipe_pool::cache_limit);
}

}  // namespace

BOOST_AUTO_TEST_CASE(alternating_64_b_and_64_kib_switch_paths_byte_exact_on_one_thread) {
  switches_byte_exact_over_tcp(1);
}

BOOST_AUTO_TEST_CASE(alternating_64_b_and_64_kib_switch_paths_byte_exact_on_two_threads) {
  switches_byte_exact_over_tcp(2);
}

BOOST_AUTO_TEST_CASE(alternating_sizes_over_a_unix_socket_switch_paths_byte_exact) {
  const std::string name = "echo-splice-test-" + std::to_string(::getpid());
  auto cfg = with_splice(echo::splice_mode::automatic);
  cfg.listeners = {echo::parse_listen_url("unix:@" + name)};
  server_fixture f(2, cfg);
  {
    echo_client c(connect_unix("@" + name));
    alternate(c);
  }
  BOOST_TEST(sessions_drop_to(f, 0, 5s));
  BOOST_TEST(f.server().bytes().sent == alternated_bytes);
  BOOST_TEST(pipe_pool::live() >= 1U);
}

BOOST_AUTO_TEST_CASE(ten_connections_switching_at_once_stay_byte_exact) {
  server_fixture f(2, with_splice(echo::splice_mode::automatic));
  std::vector<std::thread> clients;
  std::atomic<int> failures{0};
  for (int k = 0; k < 10; ++k) {
    clients.emplace_back([&, k] {
      try {
        echo_client c("127.0.0.1", f.port());
        for (int i = 0; i < 100; ++i) {
          const auto seed = static_cast<std::uint64_t>(k * 1000 + i);
          if (c.echo_pattern(seed, (i + k) % 2 == 0 ? small : large) != stream_error::none) ++failures;
        }
      } catch (const std::exception&) {
        ++failures;
      }
    });
  }
  for (auto& t : clients) t.join();
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(sessions_drop_to(f, 0, 5s));
  BOOST_TEST(f.server().bytes().sent == 10U * 50U * (small + large));
}

BOOST_AUTO_TEST_CASE(splice_off_never_makes_a_pipe) {
  server_fixture f(1, with_splice(echo::splice_mode::off));
  echo_client c("127.0.0.1", f.port());
  BOOST_TEST((c.echo_pattern(1, 4 * large) == stream_error::none));
  // Under ECHO_TEST_SPLICE=always the fixture overrides the mode, by design.
  if (!echo::test::splice_forced()) BOOST_TEST(pipe_pool::live() == 0U);
}

BOOST_AUTO_TEST_CASE(small_reads_stay_on_the_copying_path) {
  server_fixture f(1, with_splice(echo::splice_mode::automatic));
  echo_client c("127.0.0.1", f.port());
  for (int i = 0; i < 100; ++i)
    BOOST_REQUIRE((c.echo_pattern(static_cast<std::uint64_t>(i), 1024) == stream_error::none));
  // Under ECHO_TEST_SPLICE=always every read splices, by design.
  if (!echo::test::splice_forced()) BOOST_TEST(pipe_pool::live() == 0U);
}

BOOST_AUTO_TEST_CASE(always_splices_from_the_first_read) {
  server_fixture f(1, with_splice(echo::splice_mode::always));
  echo_client c("127.0.0.1", f.port());
  BOOST_TEST((c.echo_pattern(3, small) == stream_error::none));
  BOOST_TEST(pipe_pool::live() == 1U);
}

BOOST_AUTO_TEST_CASE(peers_that_reset_mid_echo_do_not_end_the_process) {
  // A splice into a socket whose peer has gone raises SIGPIPE (splice has no MSG_NOSIGNAL):
  // the server's threads block it. Each client sends 256 KiB and resets without reading.
  server_fixture f(2, with_splice(echo::splice_mode::always));
  const std::string block(256 * 1024, 'x');
  for (int i = 0; i < 100; ++i) {
    echo_client c("127.0.0.1", f.port());
    c.send_all(block);
    const linger reset{1, 0};
    ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }
  BOOST_TEST(sessions_drop_to(f, 0, 10s));
  echo_client c("127.0.0.1", f.port());
  BOOST_TEST((c.echo_pattern(4, large) == stream_error::none));
}

namespace {

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_pipe_is_one_descriptor_that_takes_bytes_in_and_gives_them_out) {
  const pipe_pool::scope scope;
  // Drain this thread's cache so the pipe below is made here.
  pipe_pool::shed();
  const std::size_t before = open_descriptors();
  int p = pipe_pool::try_acquire(1000);
  BOOST_REQUIRE(p >= 0);
  BOOST_TEST(open_descriptors() == before + 1);
  BOOST_TEST((::fcntl(p, F_GETFL) & O_NONBLOCK) != 0);

  // socket -> pipe -> socket through the one descriptor, as a session's echo does.
  int in[2];
  int out[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, in) == 0);
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, out) == 0);
  const std::string message(3000, 'p');
  BOOST_REQUIRE(::send(in[0], message.data(), message.size(), 0) == static_cast<ssize_t>(message.size()));
  BOOST_TEST(::splice(in[1], nullptr, p, nullptr, 65536, SPLICE_F_NONBLOCK) ==
             static_cast<ssize_t>(message.size()));
  BOOST_TEST(::splice(p, nullptr, out[0], nullptr, message.size(), SPLICE_F_NONBLOCK) ==
             static_cast<ssize_t>(message.size()));
  std::string echoed(message.size(), '\0');
  BOOST_TEST(::recv(out[1], echoed.data(), echoed.size(), MSG_WAITALL) ==
             static_cast<ssize_t>(echoed.size()));
  BOOST_TEST(echoed == message);
  // Empty again, and still its own writer: a non-blocking read waits instead of seeing EOF.
  char byte = 0;
  BOOST_TEST(::read(p, &byte, 1) == -1);
  BOOST_TEST(errno == EAGAIN);

  for (const int fd : {in[0], in[1], out[0], out[1]}) ::close(fd);
  pipe_pool::discard(p);
  BOOST_TEST(p == -1);
  BOOST_TEST(open_descriptors() == before);
}
