// A client library's tests against echo-svc in-process, with Boost.Test. The "client" here is
// a few lines of blocking Asio; yours is whatever you are testing.
#define BOOST_TEST_MODULE echo_client_example
#include <boost/test/unit_test.hpp>

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

// The client under test: send a request, read the same number of bytes back.
std::string exchange(std::uint16_t port, const std::string& request) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(socket, asio::buffer(request));
  std::string reply(request.size(), '\0');
  asio::read(socket, asio::buffer(reply));
  return reply;
}

}  // namespace

// What a client must do when the server hangs up mid-reply: here echo-svc closes (FIN) after
// echoing 10 bytes, and the client sees exactly those 10, then end of stream.
BOOST_AUTO_TEST_CASE(server_closing_mid_reply) {
  echo::testing::fixture echo;
  echo.set_faults({"close-after:bytes=10"});
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), echo.port()});
  asio::write(socket, asio::buffer(std::string("0123456789abcdef")));
  std::string reply(16, '\0');
  boost::system::error_code ec;
  const std::size_t n = asio::read(socket, asio::buffer(reply), ec);
  BOOST_TEST(n == 10U);
  BOOST_TEST(reply.substr(0, n) == "0123456789");
  BOOST_TEST((ec == asio::error::eof));
}

BOOST_AUTO_TEST_CASE(round_trip) {
  echo::testing::fixture echo;  // 127.0.0.1, a free port, its own thread
  BOOST_TEST(exchange(echo.port(), "hello") == "hello");
  BOOST_TEST(exchange(echo.port(), std::string(1 << 20, 'x')) == std::string(1 << 20, 'x'));
  BOOST_TEST(echo.server().bytes().received == 5U + (1U << 20));
}
