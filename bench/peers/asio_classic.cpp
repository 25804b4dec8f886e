// asio-classic: the shape of Asio's cpp11 echo example, written fresh, so the
// benchmark shows what echo-svc's design adds or costs relative to the textbook.
//
// Kept deliberately textbook: shared_ptr session, a 1 KiB member buffer,
// async_read_some -> async_write -> async_read_some, one io_context on one
// thread. Two additions only, both so the harness can drive it like every other
// peer: --port (0 allowed) with the common ready line, and a clean exit on
// SIGTERM. It also sets TCP_NODELAY, as all peers in bench/ do, so 64 KiB cells
// measure user-space work instead of Nagle/delayed-ACK stalls.
// One file with two classes on purpose: it mirrors the single-file example.
#include <boost/asio.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <utility>

namespace {

using boost::asio::ip::tcp;

class session : public std::enable_shared_from_this<session> {
 public:
  explicit session(tcp::socket socket) : socket_(std::move(socket)) {}

  void start() { do_read(); }

 private:
  void do_read() {
    auto self = shared_from_this();
    socket_.async_read_some(boost::asio::buffer(data_),
                            [this, self](boost::system::error_code ec, std::size_t length) {
                              // eof, reset and abort all end the session; the
                              // shared_ptr going away closes the socket.
                              if (!ec) do_write(length);
                            });
  }

  void do_write(std::size_t length) {
    auto self = shared_from_this();
    boost::asio::async_write(socket_, boost::asio::buffer(data_, length),
                             [this, self](boost::system::error_code ec, std::size_t) {
                               if (!ec) do_read();
                             });
  }

  tcp::socket socket_;
  enum { max_length = 1024 };
  char data_[max_length];
};

class server {
 public:
  server(boost::asio::io_context& io_context, const tcp::endpoint& endpoint)
      : acceptor_(io_context, endpoint) {
    do_accept();
  }

  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void do_accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (!ec) {
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<session>(std::move(socket))->start();
      } else if (ec != boost::asio::error::operation_aborted) {
        std::fprintf(stderr, "asio-classic: accept: %s\n", ec.message().c_str());
      }
      if (ec != boost::asio::error::operation_aborted) do_accept();
    });
  }

  tcp::acceptor acceptor_;
};

int usage(std::FILE* out, int code) {
  std::fputs(
      "usage: echo-asio-classic [--port P] [--bind ADDR]\n"
      "  Asio cpp11-example-shaped echo server (benchmark peer); --port 0 picks a\n"
      "  free port; prints 'listening on ADDR:PORT' once ready; exits 0 on SIGTERM.\n",
      out);
  return code;
}

}  // namespace

int main(int argc, char* argv[]) {
  try {
    unsigned long port = 0;
    std::string bind_addr = "127.0.0.1";
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--help") return usage(stdout, 0);
      if (arg == "--port" && i + 1 < argc) {
        char* end = nullptr;
        port = std::strtoul(argv[++i], &end, 10);
        if (*argv[i] == '\0' || *end != '\0' || port > 65535) return usage(stderr, 2);
      } else if (arg == "--bind" && i + 1 < argc) {
        bind_addr = argv[++i];
      } else {
        return usage(stderr, 2);
      }
    }
    boost::asio::io_context io_context(1);
    const tcp::endpoint endpoint(boost::asio::ip::make_address(bind_addr), static_cast<unsigned short>(port));
    server s(io_context, endpoint);
    boost::asio::signal_set signals(io_context, SIGINT, SIGTERM);
    signals.async_wait([&io_context](boost::system::error_code, int) { io_context.stop(); });

    const auto bound = s.local_endpoint();
    const auto address = bound.address();
    const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
    std::printf("listening on %s:%u\n", host.c_str(), static_cast<unsigned>(bound.port()));
    std::fflush(stdout);
    io_context.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio-classic: %s\n", e.what());
    return 1;
  }
  return 0;
}
