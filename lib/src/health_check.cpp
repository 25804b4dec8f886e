#include "echo/health_check.hpp"

#include <algorithm>
#include <random>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "echo/config_parser.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace echo {

std::string run_health_check(const check_options& opts) {
  asio::io_context io(1);
  tcp::resolver resolver(io);
  tcp::socket socket(io);
  std::vector<unsigned char> sent(opts.bytes), got(opts.bytes);
  std::random_device seed;
  std::independent_bits_engine<std::mt19937, 8, unsigned> bytes(seed());
  std::generate(sent.begin(), sent.end(), [&] { return static_cast<unsigned char>(bytes()); });

  const auto target = fmt::format("{}:{}", opts.host, opts.port);
  std::string failure;
  const char* step = "resolving";
  const auto fail = [&](const char* what, const error_code& ec) {
    failure = fmt::format("{} {}: {}", what, target, ec.message());
  };
  // One chain, each step started by the previous one's completion; the io_context's
  // run_for() is the deadline for all of it.
  resolver.async_resolve(
      opts.host, std::to_string(opts.port), [&](const error_code& resolve_ec, tcp::resolver::results_type r) {
        if (resolve_ec) return fail("resolve", resolve_ec);
        step = "connecting to";
        asio::async_connect(socket, r, [&](const error_code& connect_ec, const tcp::endpoint&) {
          if (connect_ec) return fail("connect to", connect_ec);
          step = "sending to";
          asio::async_write(socket, asio::buffer(sent), [&](const error_code& write_ec, std::size_t) {
            if (write_ec) return fail("send to", write_ec);
            step = "waiting for the echo from";
            asio::async_read(socket, asio::buffer(got), [&](const error_code& ec, std::size_t n) {
              if (ec) {
                failure =
                    fmt::format("read from {}: {} after {} of {} bytes", target, ec.message(), n, got.size());
                return;
              }
              const auto [a, b] = std::mismatch(sent.begin(), sent.end(), got.begin());
              if (a != sent.end())
                failure = fmt::format("echo from {} differs at byte {}", target, a - sent.begin());
              step = nullptr;
            });
          });
        });
      });
  io.run_for(opts.timeout);
  if (!failure.empty()) return failure;
  if (step != nullptr)
    return fmt::format("timed out after {} {} {}", format_duration(opts.timeout), step, target);
  return {};
}

}  // namespace echo
