#include "detail/server_metrics.hpp"

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detail/metrics_text.hpp"
#include "detail/session_state.hpp"
#include "echo/server.hpp"
#include "echo/version.hpp"

namespace echo::detail {
namespace {

using type = metrics_text::type;

// The reason label of echo_connections_closed_total, for each end_reason a session can
// close with (none is counted as shutdown).
constexpr std::array<std::pair<end_reason, std::string_view>, 9> close_reasons{{
    {end_reason::eof, "eof"},
    {end_reason::reset, "reset"},
    {end_reason::error, "error"},
    {end_reason::idle_timeout, "idle_timeout"},
    {end_reason::write_timeout, "write_timeout"},
    {end_reason::shutdown, "shutdown"},
    {end_reason::forced, "forced"},
    {end_reason::plan_fin, "plan_fin"},
    {end_reason::plan_reset, "plan_reset"},
}};
static_assert(static_cast<std::size_t>(end_reason::plan_reset) + 1 ==
                  std::tuple_size_v<decltype(listener_stats::closed_by)>,
              "listener_stats::closed_by has one counter per end_reason");

struct listener_view {
  std::string label;
  const listener_stats* counters;
};

}  // namespace

void write_server_metrics(metrics_text& out, const server& srv) {
  const auto get = [](const std::atomic<std::uint64_t>& c) { return stats::get(c); };

  out.family("echo_build_info", type::gauge, "Always 1; the version label says which echo-svc this is.");
  out.sample({{"version", version}}, std::uint64_t{1});

  std::vector<listener_view> listeners;
  for (const auto& l : srv.listeners()) {
    if (const auto* c = l->counters()) listeners.push_back({l->name(), c});
  }
  const auto per_listener = [&](std::string_view name, type t, std::string_view help,
                                const std::atomic<std::uint64_t> listener_stats::*field) {
    out.family(name, t, help);
    for (const auto& l : listeners) out.sample({{"listener", l.label}}, get(l.counters->*field));
  };
  per_listener("echo_connections_open", type::gauge, "Echo connections open now.", &listener_stats::open);
  per_listener("echo_connections_accepted_total", type::counter, "Echo connections accepted and served.",
               &listener_stats::accepted);
  out.family("echo_connections_rejected_total", type::counter,
             "Connections accepted and closed at once: over max-connections (limit) or out of "
             "file descriptors (descriptors).");
  for (const auto& l : listeners) {
    out.sample({{"listener", l.label}, {"reason", "limit"}}, get(l.counters->rejected));
    out.sample({{"listener", l.label}, {"reason", "descriptors"}}, get(l.counters->shed));
  }
  per_listener("echo_accept_errors_total", type::counter, "Failed accept calls.",
               &listener_stats::accept_errors);
  per_listener("echo_accept_pauses_total", type::counter,
               "Times accepting backed off after errors or descriptor exhaustion.",
               &listener_stats::accept_pauses);

  out.family("echo_connections_closed_total", type::counter,
             "Echo connections ended, by why: eof (peer finished), reset (peer reset or vanished), "
             "error, idle_timeout, write_timeout, shutdown (graceful drain), forced (drain deadline "
             "or abort), plan_fin and plan_reset (fault-injection plans).");
  for (const auto& l : listeners) {
    for (const auto& [reason, name] : close_reasons)
      out.sample({{"listener", l.label}, {"reason", name}},
                 get(l.counters->closed_by[static_cast<std::size_t>(reason)]));
  }
  per_listener("echo_received_bytes_total", type::counter, "Bytes read from echo connections.",
               &listener_stats::bytes_received);
  per_listener("echo_sent_bytes_total", type::counter, "Bytes written to echo connections.",
               &listener_stats::bytes_sent);
}

}  // namespace echo::detail
