#include "detail/faults_json.hpp"

#include <fmt/format.h>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "echo/server.hpp"
#include "echo/usage_error.hpp"

namespace json = boost::json;

namespace echo::detail {
namespace {

json::array specs(const std::vector<fault_spec>& faults) {
  json::array out;
  out.reserve(faults.size());
  for (const auto& f : faults) out.emplace_back(format_fault_spec(f));
  return out;
}

}  // namespace

std::string faults_json(const server& srv) {
  json::object out;
  out["faults"] = specs(srv.faults());
  out["configured"] = specs(srv.configured_faults());
  out["seed"] = srv.fault_seed();
  out["allow_corruption"] = srv.corruption_allowed();
  auto text = json::serialize(out);
  text += '\n';
  return text;
}

std::vector<fault_spec> parse_faults_json(std::string_view body) {
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  if (ec) throw usage_error(fmt::format("invalid JSON: {}", ec.message()));
  const json::array* list = doc.if_array();
  if (const auto* o = doc.if_object()) {
    const auto* f = o->if_contains("faults");
    if (f == nullptr || o->size() != 1)
      throw usage_error(R"(expected {"faults": ["SPEC", ...]} and no other key)");
    list = f->if_array();
  }
  if (list == nullptr) throw usage_error(R"(expected {"faults": ["SPEC", ...]} or ["SPEC", ...])");
  std::vector<fault_spec> faults;
  faults.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto* s = (*list)[i].if_string();
    if (s == nullptr)
      throw usage_error(fmt::format("faults[{}]: expected a SPEC string such as \"latency:delay=50ms\"", i));
    faults.push_back(parse_fault_spec(std::string_view(s->data(), s->size())));
  }
  return faults;
}

}  // namespace echo::detail
