#include "detail/metrics_text.hpp"

#include <cassert>
#include <cmath>

#include <fmt/format.h>

namespace echo::detail {
namespace {

[[maybe_unused]] bool valid_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace

void metrics_text::append_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void metrics_text::append_help(std::string& out, std::string_view help) {
  for (const char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void metrics_text::family(std::string_view name, type t, std::string_view help) {
  assert(valid_name(name));
  assert(t != type::counter || name.ends_with("_total"));
  family_.assign(name);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_help(out_, help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += t == type::counter ? " counter\n" : " gauge\n";
}

void metrics_text::begin_sample(std::initializer_list<label> labels) {
  assert(!family_.empty());
  out_ += family_;
  if (labels.size() == 0) {
    out_ += ' ';
    return;
  }
  char sep = '{';
  for (const auto& l : labels) {
    assert(valid_name(l.name) && !l.name.starts_with("__"));
    out_ += sep;
    out_ += l.name;
    out_ += "=\"";
    append_label_value(out_, l.value);
    out_ += '"';
    sep = ',';
  }
  out_ += "} ";
}

void metrics_text::sample(std::initializer_list<label> labels, std::uint64_t value) {
  begin_sample(labels);
  fmt::format_to(std::back_inserter(out_), "{}\n", value);
}

void metrics_text::sample(std::initializer_list<label> labels, double value) {
  begin_sample(labels);
  if (std::isnan(value)) out_ += "NaN\n";
  else if (std::isinf(value)) out_ += value > 0 ? "+Inf\n" : "-Inf\n";
  else fmt::format_to(std::back_inserter(out_), "{}\n", value);
}

}  // namespace echo::detail
