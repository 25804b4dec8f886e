#include "detail/server_metrics.hpp"

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detail/metrics_text.hpp"
#include "detail/pipe_pool.hpp"
#include "detail/proxy_header.hpp"
#include "detail/session_state.hpp"
#include "detail/tls_context.hpp"
#include "detail/udp_listener.hpp"
#include "echo/server.hpp"
#include "echo/version.hpp"

namespace echo::detail {
namespace {

using type = metrics_text::type;

// The reason label of echo_connections_closed_total, for each end_reason a session can
// close with (none is counted as shutdown).
constexpr std::array<std::pair<end_reason, std::string_view>, 10> close_reasons{{
    {end_reason::eof, "eof"},
    {end_reason::reset, "reset"},
    {end_reason::error, "error"},
    {end_reason::idle_timeout, "idle_timeout"},
    {end_reason::write_timeout, "write_timeout"},
    {end_reason::shutdown, "shutdown"},
    {end_reason::forced, "forced"},
    {end_reason::plan_fin, "plan_fin"},
    {end_reason::plan_reset, "plan_reset"},
    {end_reason::proxy_header, "proxy_header"},
}};
static_assert(static_cast<std::size_t>(end_reason::proxy_header) + 1 ==
                  std::tuple_size_v<decltype(listener_stats::closed_by)>,
              "listener_stats::closed_by has one counter per end_reason");

struct listener_view {
  std::string label;
  const listener_stats* counters;
  const udp_listener* datagrams;  ///< a UDP listener: no connections, datagram counters
  bool proxy;                     ///< reads PROXY headers
};

constexpr std::array<std::pair<proxy_error, std::string_view>, 12> proxy_reasons{{
    {proxy_error::bad_signature, "bad_signature"},
    {proxy_error::not_v1, "not_v1"},
    {proxy_error::not_v2, "not_v2"},
    {proxy_error::bad_protocol, "bad_protocol"},
    {proxy_error::bad_address, "bad_address"},
    {proxy_error::bad_port, "bad_port"},
    {proxy_error::bad_syntax, "bad_syntax"},
    {proxy_error::too_long, "too_long"},
    {proxy_error::bad_version, "bad_version"},
    {proxy_error::bad_command, "bad_command"},
    {proxy_error::bad_family, "bad_family"},
    {proxy_error::bad_length, "bad_length"},
}};

}  // namespace

void write_server_metrics(metrics_text& out, const server& srv) {
  const auto get = [](const std::atomic<std::uint64_t>& c) { return stats::get(c); };

  out.family("echo_build_info", type::gauge, "Always 1; the version label says which echo-svc this is.");
  out.sample({{"version", version}}, std::uint64_t{1});

  std::vector<listener_view> all, listeners;  // `listeners`: the stream ones
  for (const auto& l : srv.listeners()) {
    if (const auto* c = l->counters())
      all.push_back({l->name(), c, dynamic_cast<const udp_listener*>(l.get()), l->reads_proxy_header()});
  }
  for (const auto& l : all)
    if (!l.datagrams) listeners.push_back(l);
  const auto per_listener = [&](std::string_view name, type t, std::string_view help,
                                const std::atomic<std::uint64_t> listener_stats::*field,
                                const std::vector<listener_view>& which) {
    out.family(name, t, help);
    for (const auto& l : which) out.sample({{"listener", l.label}}, get(l.counters->*field));
  };
  per_listener("echo_connections_open", type::gauge, "Echo connections open now.", &listener_stats::open,
               listeners);
  per_listener("echo_connections_accepted_total", type::counter, "Echo connections accepted and served.",
               &listener_stats::accepted, listeners);
  out.family("echo_connections_rejected_total", type::counter,
             "Connections accepted and closed at once: over max-connections (limit) or out of "
             "file descriptors (descriptors).");
  for (const auto& l : listeners) {
    out.sample({{"listener", l.label}, {"reason", "limit"}}, get(l.counters->rejected));
    out.sample({{"listener", l.label}, {"reason", "descriptors"}}, get(l.counters->shed));
  }
#if ECHO_SPLICE_PATH
  // Process-wide, as the pool is: a pipe belongs to a thread, not to a listener.
  out.family("echo_splice_pipes", type::gauge,
             "Splice pipes open now, idle in a thread's cache or holding an echo; one file descriptor each.");
  out.sample(static_cast<std::uint64_t>(pipe_pool::live()));
#endif
  per_listener("echo_accept_errors_total", type::counter, "Failed accept calls.",
               &listener_stats::accept_errors, listeners);
  per_listener("echo_accept_pauses_total", type::counter,
               "Times accepting backed off after errors or descriptor exhaustion.",
               &listener_stats::accept_pauses, listeners);

  out.family("echo_connections_closed_total", type::counter,
             "Echo connections ended, by why: eof (peer finished), reset (peer reset or vanished), "
             "error, idle_timeout, write_timeout, shutdown (graceful drain), forced (drain deadline "
             "or abort), plan_fin and plan_reset (fault-injection plans), proxy_header (PROXY header "
             "missing or malformed).");
  for (const auto& l : listeners) {
    for (const auto& [reason, name] : close_reasons)
      out.sample({{"listener", l.label}, {"reason", name}},
                 get(l.counters->closed_by[static_cast<std::size_t>(reason)]));
  }
  per_listener("echo_received_bytes_total", type::counter,
               "Bytes read from clients (UDP: datagram payloads).", &listener_stats::bytes_received, all);
  per_listener("echo_sent_bytes_total", type::counter, "Bytes written to clients (UDP: datagram payloads).",
               &listener_stats::bytes_sent, all);

  out.family("echo_faults_fired_total", type::counter,
             "Connections each fault kind acted on (once per connection, when the fault first "
             "changed its behaviour); no-accept and refuse count each time they take hold. The "
             "fault label is the fault's NAME, as in --fault.");
  for (const auto& f : srv.faults_fired())
    out.sample({{"listener", f.listener}, {"fault", f.fault}}, f.count);

  out.family("echo_proxy_header_errors_total", type::counter,
             "Connections closed because their PROXY protocol header was missing or malformed, by "
             "why; listeners with proxy-protocol on only.");
  for (const auto& l : listeners) {
    if (!l.proxy) continue;
    for (const auto& [reason, name] : proxy_reasons)
      out.sample({{"listener", l.label}, {"reason", name}},
                 get(l.counters->proxy_errors[static_cast<std::size_t>(reason)]));
  }

  if (const auto* tls = srv.tls()) {
    const auto& t = tls->stats();
    out.family("echo_tls_handshakes_total", type::counter, "TLS handshakes completed.");
    out.sample(get(t.handshakes));
    out.family("echo_tls_handshake_failures_total", type::counter,
               "TLS handshakes failed, by why: timeout, closed (by the client mid-handshake), "
               "not_tls (plain bytes), protocol (no common version, cipher or ALPN), "
               "no_client_cert and bad_client_cert (mTLS), rejected_by_client (it refused our "
               "certificate), other.");
    for (std::size_t i = 0; i < tls_failure_count; ++i) {
      const auto why = static_cast<tls_failure>(i);
      out.sample({{"reason", to_string(why)}}, t.failures(why));
    }
    out.family("echo_tls_reloads_total", type::counter,
               "Certificate reloads (SIGHUP), by result: ok (in use for new handshakes) or failed "
               "(refused; the previous certificate stays).");
    out.sample({{"result", "ok"}}, get(t.reloads));
    out.sample({{"result", "failed"}}, get(t.reload_failures));
  }

  const auto per_udp = [&](std::string_view name, std::string_view help,
                           const std::atomic<std::uint64_t> udp_listener_stats::*field) {
    out.family(name, type::counter, help);
    for (const auto& l : all)
      if (l.datagrams) out.sample({{"listener", l.label}}, get(l.datagrams->datagram_counters().*field));
  };
  per_udp("echo_udp_received_datagrams_total", "Datagrams read by UDP listeners, dropped ones included.",
          &udp_listener_stats::received);
  per_udp("echo_udp_sent_datagrams_total", "Replies UDP listeners sent.", &udp_listener_stats::sent);
  out.family("echo_udp_dropped_datagrams_total", type::counter,
             "Datagrams not answered, by why: source_port (a port whose service answers back), "
             "source_address, destination (broadcast or multicast), budget (over "
             "--udp-source-rate or --udp-source-bytes), truncated (too large), send_error. A "
             "discard listener's datagrams are not counted here.");
  for (const auto& l : all) {
    if (!l.datagrams) continue;
    const auto& d = l.datagrams->datagram_counters();
    for (const auto& [name, counter] :
         {std::pair{"source_port", &d.dropped_source_port},
          std::pair{"source_address", &d.dropped_source_address},
          std::pair{"destination", &d.dropped_destination}, std::pair{"budget", &d.dropped_budget},
          std::pair{"truncated", &d.dropped_truncated}, std::pair{"send_error", &d.send_errors}})
      out.sample({{"listener", l.label}, {"reason", name}}, get(*counter));
  }
}

}  // namespace echo::detail
