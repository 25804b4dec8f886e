#include "echo/runtime.hpp"

#include "detail/pipe_pool.hpp"

#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace echo {
namespace {

// One thread: Asio drops the per-descriptor mutexes of its reactor (every socket operation
// takes one otherwise) and treats the scheduler as single-threaded. A shared runtime keeps
// scheduler and registration locking so other threads may still post to it (a test
// harness asking for shutdown); an exclusive one drops those locks as well.
int concurrency_hint(unsigned threads, bool exclusive) noexcept {
  if (threads != 1) return static_cast<int>(threads);
  return exclusive ? BOOST_ASIO_CONCURRENCY_HINT_UNSAFE : BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO;
}

}  // namespace

runtime::runtime(unsigned threads, bool exclusive)
    : threads_(threads == 0 ? 1 : threads), io_(concurrency_hint(threads_, exclusive)) {}

void runtime::run() {
  std::exception_ptr first_error;
  std::mutex error_mutex;
  const auto run_one = [&]() noexcept {
    // The splice path's pipes are served only here (see pipe_pool::scope).
    const detail::pipe_pool::scope pipes;
    try {
      io_.run();
    } catch (...) {
      // Handlers never throw by design; if one does, stop everything and report it
      // rather than leave a half-served process.
      std::lock_guard lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
      io_.stop();
    }
  };

  std::vector<std::thread> pool;
  pool.reserve(threads_ - 1);
  try {
    for (unsigned i = 1; i < threads_; ++i) pool.emplace_back(run_one);
  } catch (...) {
    io_.stop();
    for (auto& t : pool) t.join();
    throw;
  }
  run_one();
  for (auto& t : pool) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace echo
