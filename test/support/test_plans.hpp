#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>

#include "echo/step_plan.hpp"

namespace echo::test {

/// Splits every echo into writes of `size` bytes (1: one byte per write).
class split_plan final : public step_plan {
 public:
  explicit split_plan(std::size_t size = 1, std::chrono::nanoseconds delay = {})
      : size_(size), delay_(delay) {}
  step after_read(std::span<std::byte>) override { return step::proceed(); }
  step before_write(std::size_t) override { return {step::kind::go, size_, delay_}; }

 private:
  std::size_t size_;
  std::chrono::nanoseconds delay_;
};

/// Echoes the first `limit` bytes exactly, then ends the connection: with our FIN, or with
/// an RST when `reset`.
class end_after_plan final : public step_plan {
 public:
  end_after_plan(std::size_t limit, bool reset) : left_(limit), reset_(reset) {}
  step after_read(std::span<std::byte>) override { return left_ == 0 ? end() : step::proceed(); }
  step before_write(std::size_t pending) override {
    if (left_ == 0) return end();
    const auto n = std::min(pending, left_);
    left_ -= n;
    return {step::kind::go, n, {}};
  }

 private:
  step end() const { return {reset_ ? step::kind::end_reset : step::kind::end_fin, 0, {}}; }
  std::size_t left_;
  bool reset_;
};

/// Holds every echo back by `delay` after the read.
class delay_plan final : public step_plan {
 public:
  explicit delay_plan(std::chrono::nanoseconds delay) : delay_(delay) {}
  step after_read(std::span<std::byte>) override { return {step::kind::go, 0, delay_}; }
  step before_write(std::size_t) override { return step::proceed(); }

 private:
  std::chrono::nanoseconds delay_;
};

}  // namespace echo::test
