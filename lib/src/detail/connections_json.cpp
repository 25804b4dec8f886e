#include "detail/connections_json.hpp"

#include <cstdint>
#include <ctime>

#include <fmt/format.h>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace json = boost::json;

namespace echo::detail {
namespace {

std::string rfc3339(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  auto secs = static_cast<std::time_t>(us / 1'000'000);
  auto frac = us % 1'000'000;
  if (frac < 0) {  // before 1970: never from a real clock, but keep the text well-formed
    frac += 1'000'000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

json::object to_json(const connection_record& r) {
  json::object o;
  o["id"] = r.id;
  o["listener"] = r.listener;
  o["peer"] = r.peer;
  if (r.proxy_source.empty()) o["proxy_source"] = nullptr;
  else o["proxy_source"] = r.proxy_source;
  o["bytes_received"] = r.bytes_received;
  o["bytes_sent"] = r.bytes_sent;
  o["started"] = rfc3339(r.started);
  // Whole microseconds: an integer reads the same in every JSON parser (a double would be
  // written as 6.7E-2).
  o["duration_us"] =
      static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(r.duration).count());
  if (r.end.empty()) o["end"] = nullptr;
  else o["end"] = r.end;
  if (!r.faults_known) {
    o["faults"] = nullptr;
  } else {
    json::array faults;
    for (const auto& f : r.faults) faults.push_back(json::object{{"fault", f.fault}, {"what", f.what}});
    o["faults"] = std::move(faults);
  }
  return o;
}

}  // namespace

std::string connections_json(const connection_list& list) {
  json::object out;
  json::array open;
  open.reserve(list.open.size());
  for (const auto& r : list.open) open.push_back(to_json(r));
  json::array closed;
  closed.reserve(list.closed.size());
  for (const auto& r : list.closed) closed.push_back(to_json(r));
  out["open"] = std::move(open);
  out["closed"] = std::move(closed);
  out["closed_capacity"] = list.closed_capacity;
  out["closed_total"] = list.closed_total;
  auto text = json::serialize(out);
  text += '\n';
  return text;
}

}  // namespace echo::detail
