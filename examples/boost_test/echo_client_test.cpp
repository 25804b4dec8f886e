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

BOOST_AUTO_TEST_CASE(round_trip) {
  echo::testing::fixture echo;  // 127.0.0.1, a free port, its own thread
  BOOST_TEST(exchange(echo.port(), "hello") == "hello");
  BOOST_TEST(exchange(echo.port(), std::string(1 << 20, 'x')) == std::string(1 << 20, 'x'));
  BOOST_TEST(echo.server().bytes().received == 5U + (1U << 20));
}
