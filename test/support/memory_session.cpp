#include "memory_session.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include <boost/asio/post.hpp>

namespace asio = boost::asio;
using boost::system::error_code;

namespace echo::test {

memory_session::memory_session(asio::io_context& io, std::shared_ptr<detail::session_context> context,
                               std::uint64_t id, memory_script script)
    : base(std::move(context), id), io_(io), script_(std::move(script)) {
  buffer_.resize(this->context().read_size());
}

bool memory_session::fails_now() { return ops_++ == script_.fail_at; }

// The state machine promises one operation in flight at a time (its backpressure): an
// operation may start only once the previous one's completion has run. Counted rather than
// asserted, so that builds without asserts check it too.
void memory_session::begin_operation() noexcept {
  if (busy_) ++overlaps_;
  busy_ = true;
}

void memory_session::stream_start(self_ptr self) {
  begin_operation();
  const error_code ec = fails_now() ? script_.fail_error : error_code();
  asio::post(io_, [ec, s = std::move(self)]() mutable {
    auto* p = s.get();
    p->busy_ = false;
    p->on_start(ec, std::move(s));
  });
}

void memory_session::stream_read(self_ptr self, bool) {
  begin_operation();
  assert(!closed_ && pending_read_ == nullptr);
  const auto complete = [this](error_code ec, std::size_t n, self_ptr s) {
    asio::post(io_, [ec, n, s = std::move(s)]() mutable {
      auto* p = s.get();
      p->busy_ = false;
      p->on_read(ec, n, std::move(s));
    });
  };
  if (fails_now()) {
    complete(script_.fail_error, 0, std::move(self));
    return;
  }
  if (pos_ < script_.input.size()) {
    const auto n = std::min({script_.read_size, script_.input.size() - pos_, buffer_.size()});
    std::memcpy(buffer_.data(), script_.input.data() + pos_, n);
    pos_ += n;
    holding_ = true;
    complete({}, n, std::move(self));
    return;
  }
  switch (script_.end) {
    case memory_script::ending::fin: complete(asio::error::eof, 0, std::move(self)); return;
    case memory_script::ending::reset: complete(asio::error::connection_reset, 0, std::move(self)); return;
    case memory_script::ending::after_our_fin:
      if (fin_sent_) {
        complete(asio::error::eof, 0, std::move(self));
        return;
      }
      pending_read_ = std::move(self);
      return;
    case memory_script::ending::silence: pending_read_ = std::move(self); return;
  }
}

void memory_session::stream_write(const std::byte* data, std::size_t n, self_ptr self) {
  begin_operation();
  assert(!closed_ && !fin_sent_ && holding_ && pending_write_ == nullptr);
  assert(data >= buffer_.data() && data + n <= buffer_.data() + buffer_.size());
  ++writes_;
  if (fails_now()) {
    asio::post(io_, [ec = script_.fail_error, s = std::move(self)]() mutable {
      auto* p = s.get();
      p->busy_ = false;
      p->on_write(ec, 0, std::move(s));
    });
    return;
  }
  if (script_.stall_writes) {
    pending_write_ = std::move(self);
    return;
  }
  output_.append(reinterpret_cast<const char*>(data), n);
  asio::post(io_, [n, s = std::move(self)]() mutable {
    auto* p = s.get();
    p->busy_ = false;
    p->on_write({}, n, std::move(s));
  });
}

void memory_session::stream_shutdown(self_ptr self) {
  begin_operation();
  assert(!closed_);
  error_code ec;
  if (fails_now()) ec = script_.fail_error;
  else fin_sent_ = true;
  asio::post(io_, [ec, s = std::move(self)]() mutable {
    auto* p = s.get();
    p->busy_ = false;
    p->on_shutdown(ec, std::move(s));
  });
}

void memory_session::abort_read() {
  if (!pending_read_) return;
  asio::post(io_, [s = std::move(pending_read_)]() mutable {
    auto* p = s.get();
    p->busy_ = false;
    p->on_read(asio::error::operation_aborted, 0, std::move(s));
  });
  pending_read_ = nullptr;
}

void memory_session::abort_write() {
  if (!pending_write_) return;
  asio::post(io_, [s = std::move(pending_write_)]() mutable {
    auto* p = s.get();
    p->busy_ = false;
    p->on_write(asio::error::operation_aborted, 0, std::move(s));
  });
  pending_write_ = nullptr;
}

// Like socket cancel(): aborts a waiting read; a read that already completed is unaffected.
void memory_session::stream_cancel() { abort_read(); }

void memory_session::stream_close() {
  closed_ = true;
  abort_read();
  abort_write();
}

void memory_session::stream_reset() {
  reset_sent_ = true;
  stream_close();
}

}  // namespace echo::test
