#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace echo::detail {

/// Writes the Prometheus text exposition format, version 0.0.4: for each metric family a
/// HELP and a TYPE line, then its samples, one per label set. Label values and HELP text are
/// escaped here; metric and label names are the caller's constants.
class metrics_text {
 public:
  /// The Content-Type this format is served with.
  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

  enum class type { counter, gauge };

  struct label {
    std::string_view name;
    std::string_view value;
  };

  /// Starts a family; the samples that follow until the next family belong to it. A
  /// counter's name ends in `_total`.
  void family(std::string_view name, type t, std::string_view help);
  /// One sample of the current family.
  void sample(std::initializer_list<label> labels, std::uint64_t value);
  void sample(std::initializer_list<label> labels, double value);
  void sample(std::uint64_t value) { sample({}, value); }
  void sample(double value) { sample({}, value); }

  const std::string& text() const noexcept { return out_; }
  std::string take() noexcept { return std::move(out_); }

  /// `value` as a label value inside double quotes: backslash, double quote and newline
  /// escaped.
  static void append_label_value(std::string& out, std::string_view value);
  /// `help` as HELP text: backslash and newline escaped.
  static void append_help(std::string& out, std::string_view help);

 private:
  void begin_sample(std::initializer_list<label> labels);

  std::string out_;
  std::string family_;
};

}  // namespace echo::detail
