#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/system/error_code.hpp>

#include "detail/proxy_header.hpp"

namespace echo::detail {

/// Takes a PROXY protocol header off a connected non-blocking stream socket, and not one
/// byte more.
///
/// Why peek: the reader looks at what has arrived with recv(MSG_PEEK), and only once the
/// parser has said how long the header is does it receive exactly that many bytes. The
/// payload stays in the kernel, so whatever reads the socket next (the echo session, or a
/// TLS handshake in front of it) finds it there, as if no header had been sent: there are no
/// leftover bytes to hand over, and no layer needs to be told about them.
///
/// Why consume a partial header: a header that has not fully arrived stays readable, so a
/// reader that only peeked would be woken again at once and spin until the rest came. The
/// parser says `need_more` only when every byte so far belongs to the header, so those
/// bytes are received into this object's buffer (never payload), and the next call peeks
/// only at what came after them.
///
/// One reader per connection, used until it reports anything but need_more. Its buffer is
/// fixed (max_proxy_header bytes); a call allocates nothing.
class proxy_reader {
 public:
  enum class status : std::uint8_t {
    need_more,  ///< wait for readability and call again
    done,       ///< header() is the parsed header; the socket is at the payload's first byte
    invalid,    ///< not a valid header; header().reason says why; close the connection
    eof,        ///< the peer closed before a complete header (consumed() says how far it got)
    error,      ///< recv failed; error() says how
  };

  explicit proxy_reader(proxy_protocol accepted) noexcept : accepted_(accepted) {}

  /// One step on socket `fd`: peeks, parses, and receives the bytes that are the header's.
  status read(int fd) noexcept;

  /// The parse result: complete once read() said done or invalid.
  const proxy_result& header() const noexcept { return result_; }
  const boost::system::error_code& error() const noexcept { return error_; }
  /// Header bytes taken off the socket so far.
  std::size_t consumed() const noexcept { return have_; }

 private:
  status fail(int err) noexcept;
  /// Receives exactly `n` bytes that a peek has shown to be there.
  bool take(int fd, std::size_t n) noexcept;

  proxy_protocol accepted_;
  bool finished_ = false;
  std::size_t have_ = 0;
  proxy_result result_;
  boost::system::error_code error_;
  std::array<std::byte, max_proxy_header> buffer_;
};

std::string_view to_string(proxy_reader::status s) noexcept;

}  // namespace echo::detail
