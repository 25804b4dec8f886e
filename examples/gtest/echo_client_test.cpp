// A client library's tests against echo-svc in-process, with GoogleTest. The "client" here
// is a few lines of blocking Asio; yours is whatever you are testing.
#include <gtest/gtest.h>

#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "echo/testing/fixture.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::string exchange(std::uint16_t port, const std::string& request) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(socket, asio::buffer(request));
  std::string reply(request.size(), '\0');
  asio::read(socket, asio::buffer(reply));
  return reply;
}

// One server for the whole suite, as a GoogleTest fixture.
class EchoTest : public ::testing::Test {
 protected:
  echo::testing::fixture echo_;
};

}  // namespace

TEST_F(EchoTest, RoundTrip) {
  EXPECT_EQ(exchange(echo_.port(), "hello"), "hello");
  // The server counts what it received before it writes the echo, so this is settled once
  // the reply is here; bytes().sent is counted when the server's write completes, which may
  // be after the client has already read it.
  EXPECT_EQ(echo_.server().bytes().received, 5U);
}

// The server resets the connection after 10 bytes: the client's read fails with
// ECONNRESET, after having received at most those 10 bytes.
TEST_F(EchoTest, ResetMidReplyIsAnError) {
  echo_.set_faults({"reset-after:bytes=10"});
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), echo_.port()});
  asio::write(socket, asio::buffer(std::string(64, 'r')));
  std::string reply(64, '\0');
  boost::system::error_code ec;
  const std::size_t n = asio::read(socket, asio::buffer(reply), ec);
  EXPECT_LE(n, 10U);
  EXPECT_EQ(ec, asio::error::connection_reset);
  echo_.clear_faults();
  EXPECT_EQ(exchange(echo_.port(), "plain again"), "plain again");
}

TEST_F(EchoTest, ReadyLinesNameTheListener) {
  const auto lines = echo_.ready_lines();
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(lines[0], "listening on 127.0.0.1:" + std::to_string(echo_.port()));
}
