#include "json_lines.hpp"

// Boost.JSON is header-only here: its sources are compiled once, in this unit.
#include <boost/json/src.hpp>

#include <stdexcept>

namespace echo::test {

std::vector<boost::json::object> parse_json_lines(const std::string& text) {
  if (!text.empty() && text.back() != '\n') throw std::runtime_error("last line unterminated: " + text);
  std::vector<boost::json::object> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = text.find('\n', at);
    const std::string line = text.substr(at, end - at);
    at = end + 1;
    boost::system::error_code ec;
    auto value = boost::json::parse(line, ec);
    if (ec) throw std::runtime_error("not JSON (" + ec.message() + "): " + line);
    if (!value.is_object()) throw std::runtime_error("not a JSON object: " + line);
    out.push_back(std::move(value.as_object()));
  }
  return out;
}

std::vector<boost::json::object> events_named(const std::vector<boost::json::object>& lines,
                                              const std::string& event) {
  std::vector<boost::json::object> out;
  for (const auto& o : lines) {
    const auto* e = o.if_contains("event");
    if (e != nullptr && e->is_string() && e->as_string() == event) out.push_back(o);
  }
  return out;
}

}  // namespace echo::test
