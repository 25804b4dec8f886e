#include "http_client.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "socket_util.hpp"

namespace echo::test {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("http client: " + what); }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace

std::string http_reply::header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

http_connection::http_connection(const std::string& host, std::uint16_t port,
                                 std::chrono::milliseconds timeout)
    : host_(host), timeout_(timeout) {
  const int fd = connect_nonblocking(host, port);
  if (fd < 0) fail(std::string("socket: ") + std::strerror(-fd));
  fd_.reset(fd);
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  pollfd p{fd_.get(), POLLOUT, 0};
  if (::poll(&p, 1, poll_timeout_ms(deadline, 60'000)) != 1) fail("connect timed out");
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) fail(std::string("connect: ") + std::strerror(err));
}

void http_connection::send(const std::string& raw) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  std::size_t done = 0;
  while (done < raw.size()) {
    const auto n = ::send(fd_.get(), raw.data() + done, raw.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) fail(std::string("send: ") + std::strerror(errno));
    pollfd p{fd_.get(), POLLOUT, 0};
    if (::poll(&p, 1, poll_timeout_ms(deadline, 60'000)) == 0) fail("send timed out");
  }
}

void http_connection::send_request(const std::string& method, const std::string& target, bool close) {
  send(method + " " + target + " HTTP/1.1\r\nHost: " + host_ + "\r\n" +
       (close ? "Connection: close\r\n" : "") + "\r\n");
}

// Reads more into in_; false on EOF. Throws on errors and at the deadline.
bool http_connection::fill(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    char buf[16 * 1024];
    const auto n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n > 0) {
      in_.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) return false;
    if (errno != EAGAIN && errno != EINTR) fail(std::string("recv: ") + std::strerror(errno));
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, poll_timeout_ms(deadline, 60'000)) == 0) fail("no response within the deadline");
  }
}

http_reply http_connection::read_reply(bool head) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  std::size_t end;
  while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(deadline)) fail("connection closed before a complete response header");
  }
  const std::string header = in_.substr(0, end);
  in_.erase(0, end + 4);
  http_reply r;
  std::size_t pos = header.find("\r\n");
  const std::string status_line = header.substr(0, pos);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12)
    fail("bad status line: " + status_line);
  r.status = std::stoi(status_line.substr(9, 3));
  while (pos != std::string::npos) {
    const auto next = header.find("\r\n", pos + 2);
    const std::string line =
        header.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    const auto colon = line.find(':');
    if (colon != std::string::npos) r.headers[lower(line.substr(0, colon))] = trim(line.substr(colon + 1));
    pos = next;
  }
  if (head) return r;
  const auto length_text = r.header("content-length");
  if (length_text.empty()) {
    // Delimited by the end of the connection.
    while (fill(deadline)) {
    }
    r.body = std::move(in_);
    in_.clear();
    return r;
  }
  const auto length = std::stoul(length_text);
  while (in_.size() < length) {
    if (!fill(deadline)) fail("connection closed inside the body");
  }
  r.body = in_.substr(0, length);
  in_.erase(0, length);
  return r;
}

bool http_connection::closed_within(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    char buf[4096];
    const auto n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n > 0) fail("unexpected bytes: " + std::string(buf, static_cast<std::size_t>(n)));
    if (errno == ECONNRESET) return true;
    if (errno != EAGAIN && errno != EINTR) fail(std::string("recv: ") + std::strerror(errno));
    pollfd p{fd_.get(), POLLIN, 0};
    const int wait = poll_timeout_ms(deadline, 60'000);
    if (wait == 0 || ::poll(&p, 1, wait) == 0) return false;
  }
}

http_reply http_request(const std::string& host, std::uint16_t port, const std::string& target,
                        const std::string& method) {
  http_connection c(host, port);
  c.send_request(method, target, true);
  return c.read_reply(method == "HEAD");
}

http_reply http_call(const std::string& host, std::uint16_t port, const std::string& method,
                     const std::string& target, const std::string& bearer, const std::string& body) {
  http_connection c(host, port);
  std::string raw = method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n";
  if (!bearer.empty()) raw += "Authorization: Bearer " + bearer + "\r\n";
  if (!body.empty() || method == "PUT" || method == "POST")
    raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  c.send(raw + "\r\n" + body);
  return c.read_reply(method == "HEAD");
}

}  // namespace echo::test
