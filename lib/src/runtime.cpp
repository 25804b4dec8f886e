#include "echo/runtime.hpp"

#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace echo {
namespace {

// One thread: hint 1 tells Asio no other thread will ever run this io_context, so the
// scheduler does not wake or signal idle threads.
int concurrency_hint(unsigned threads) noexcept {
  return threads == 1 ? 1 : static_cast<int>(threads);
}

}  // namespace

runtime::runtime(unsigned threads) : threads_(threads == 0 ? 1 : threads), io_(concurrency_hint(threads_)) {}

void runtime::run() {
  std::exception_ptr first_error;
  std::mutex error_mutex;
  const auto run_one = [&]() noexcept {
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
