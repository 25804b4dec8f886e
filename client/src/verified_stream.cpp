#include "echo/client/verified_stream.hpp"

#include <cerrno>
#include <limits>

#include <sys/socket.h>

namespace echo::client {
namespace {

using step = verified_stream::step;

step failed(stream_error error, int sys_error = 0) noexcept {
  return step{.what = step::kind::failed, .error = error, .sys_error = sys_error};
}

step failed_call(int err) noexcept { return failed(from_errno(err), err); }

bool would_block(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

}  // namespace

verified_stream::verified_stream(std::uint64_t seed) noexcept : pattern_(seed) {}

stream_error verified_stream::connect_result(int fd, int* sys_error) noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (sys_error != nullptr) *sys_error = err;
  return err == 0 ? stream_error::none : stream_error::connect;
}

std::span<const std::byte> verified_stream::stage(std::size_t len,
                                                  std::span<std::byte> scratch) const noexcept {
  if (len > scratch.size()) len = scratch.size();
  pattern_.fill(sent_, scratch.data(), len);
  return scratch.first(len);
}

step verified_stream::send(int fd, std::size_t len, std::span<std::byte> scratch) noexcept {
  const auto bytes = stage(len, scratch);
  const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  if (n < 0) return would_block(errno) ? step{} : failed_call(errno);
  advance_sent(static_cast<std::size_t>(n));
  return step{.what = step::kind::moved, .bytes = static_cast<std::size_t>(n)};
}

step verified_stream::receive(int fd, std::span<std::byte> buffer) noexcept {
  const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
  if (n < 0) return would_block(errno) ? step{} : failed_call(errno);
  if (n == 0) return end_of_stream();
  return verify(buffer.first(static_cast<std::size_t>(n)));
}

step verified_stream::end_of_stream() const noexcept {
  // An end before our own means the peer closed first: whatever it echoed, it cut
  // the conversation short.
  if (half_closed_ && received_ == sent_) return step{.what = step::kind::ended};
  return failed(stream_error::short_echo);
}

step verified_stream::verify(std::span<const std::byte> got) noexcept {
  if (got.size() > sent_ - received_) return failed(stream_error::extra_bytes);
  const std::size_t good = pattern_.mismatch(received_, got.data(), got.size());
  if (good != got.size()) {
    step s = failed(stream_error::mismatch);
    s.bytes = good;
    return s;
  }
  received_ += got.size();
  return step{.what = step::kind::moved, .bytes = got.size()};
}

step verified_stream::half_close(int fd) noexcept {
  if (::shutdown(fd, SHUT_WR) < 0) return failed_call(errno);
  mark_half_closed();
  return step{.what = step::kind::moved};
}

std::uint64_t verified_stream::window_end(std::uint64_t window) const noexcept {
  const std::uint64_t room = std::numeric_limits<std::uint64_t>::max() - received_;
  return window > room ? std::numeric_limits<std::uint64_t>::max() : received_ + window;
}

}  // namespace echo::client
