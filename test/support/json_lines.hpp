#pragma once

#include <string>
#include <vector>

#include <boost/json/object.hpp>

namespace echo::test {

/// Every line of `text` parsed as one JSON object (Boost.JSON, strict: valid UTF-8, no
/// comments). Throws std::runtime_error quoting the first line that is not one, or if
/// `text` does not end with a newline.
std::vector<boost::json::object> parse_json_lines(const std::string& text);

/// The objects whose "event" is `event`, in order.
std::vector<boost::json::object> events_named(const std::vector<boost::json::object>& lines,
                                              const std::string& event);

}  // namespace echo::test
