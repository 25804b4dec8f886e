#include "detail/proxy_reader.hpp"

#include <sys/socket.h>
#include <sys/types.h>

#include <cassert>
#include <cerrno>
#include <span>

namespace echo::detail {
namespace {

// EINTR on a non-blocking recv is rare; a few retries, then the caller's next wake-up.
constexpr int max_interrupted = 4;

}  // namespace

proxy_reader::status proxy_reader::read(int fd) noexcept {
  assert(!finished_ && "read() after the reader finished");
  // The parser never asks for more than the longest header, so there is always room.
  assert(have_ < buffer_.size());
  ssize_t n = -1;
  for (int attempt = 0; attempt < max_interrupted; ++attempt) {
    // MSG_DONTWAIT: even on a socket left blocking by mistake, a call never blocks.
    n = ::recv(fd, buffer_.data() + have_, buffer_.size() - have_, MSG_PEEK | MSG_DONTWAIT);
    if (n >= 0 || errno != EINTR) break;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return status::need_more;
    return fail(errno);
  }
  if (n == 0) {
    finished_ = true;
    return status::eof;
  }
  const auto seen = have_ + static_cast<std::size_t>(n);
  result_ = parse_proxy_header(std::span<const std::byte>(buffer_.data(), seen), accepted_);
  switch (result_.status) {
    case proxy_status::need_more:
      // Every byte seen is the header's (see the class comment): take them all.
      if (!take(fd, static_cast<std::size_t>(n))) return fail(errno);
      return status::need_more;
    case proxy_status::done:
      assert(result_.length > have_ && result_.length <= seen);
      if (!take(fd, result_.length - have_)) return fail(errno);
      finished_ = true;
      return status::done;
    case proxy_status::invalid: finished_ = true; return status::invalid;
  }
  return fail(EINVAL);
}

proxy_reader::status proxy_reader::fail(int err) noexcept {
  finished_ = true;
  error_ = boost::system::error_code(err, boost::system::system_category());
  return status::error;
}

bool proxy_reader::take(int fd, std::size_t n) noexcept {
  // The peek showed these bytes queued, so one recv normally takes them all; the bound
  // covers a stream that hands them over in pieces.
  for (int attempt = 0; n > 0 && attempt < max_interrupted + 4; ++attempt) {
    const ssize_t got = ::recv(fd, buffer_.data() + have_, n, MSG_DONTWAIT);
    if (got > 0) {
      have_ += static_cast<std::size_t>(got);
      n -= static_cast<std::size_t>(got);
    } else if (got == 0) {
      errno = EPIPE;
      return false;
    } else if (errno != EINTR) {
      return false;
    }
  }
  if (n > 0) errno = EIO;
  return n == 0;
}

std::string_view to_string(proxy_reader::status s) noexcept {
  switch (s) {
    case proxy_reader::status::need_more: return "need_more";
    case proxy_reader::status::done: return "done";
    case proxy_reader::status::invalid: return "invalid";
    case proxy_reader::status::eof: return "eof";
    case proxy_reader::status::error: return "error";
  }
  return "?";
}

}  // namespace echo::detail
