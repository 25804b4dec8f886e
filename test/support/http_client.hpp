#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "unique_fd.hpp"

namespace echo::test {

/// One HTTP/1.1 response as the test client read it.
struct http_reply {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< names lower-cased
  std::string body;

  /// The header's value, or "" if absent.
  std::string header(const std::string& lower_name) const;
};

/// A blocking HTTP/1.1 client connection for tests (admin listener, Prometheus API): raw
/// bytes out, one response in at a time. Every wait has a deadline; failures and timeouts
/// throw std::runtime_error.
class http_connection {
 public:
  http_connection(const std::string& host, std::uint16_t port,
                  std::chrono::milliseconds timeout = std::chrono::seconds(5));

  /// Sends `raw` as it is (a request, or part of one).
  void send(const std::string& raw);
  /// Sends "METHOD target HTTP/1.1" with Host and, if `close`, Connection: close.
  void send_request(const std::string& method, const std::string& target, bool close = false);
  /// Reads one response; for a HEAD request the body is not read (`head` true).
  http_reply read_reply(bool head = false);
  /// True if the server ends the connection (EOF or RST) within `timeout` with nothing
  /// more sent; false on a timeout. Throws if bytes arrive.
  bool closed_within(std::chrono::milliseconds timeout);

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);

  unique_fd fd_;
  std::string host_;
  std::chrono::milliseconds timeout_;
  std::string in_;
};

/// GET (or another method) `target` on a new connection with Connection: close.
http_reply http_request(const std::string& host, std::uint16_t port, const std::string& target,
                        const std::string& method = "GET");

/// `method` `target` on a new connection with Connection: close, with
/// "Authorization: Bearer `bearer`" unless it is empty, and `body` (a Content-Length is sent
/// whenever there is a body or the method is PUT or POST).
http_reply http_call(const std::string& host, std::uint16_t port, const std::string& method,
                     const std::string& target, const std::string& bearer = {}, const std::string& body = {});

}  // namespace echo::test
