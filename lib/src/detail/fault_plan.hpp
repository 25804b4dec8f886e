#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "detail/fault_engine.hpp"
#include "echo/step_plan.hpp"

namespace echo::detail {

/// The step plan of a connection some fault applies to: every connection fault of the
/// active set, behind the one step-plan seam. Which faults apply is decided once per set
/// (when the connection opens, and again at the first step after a live change), from the
/// connection's own seeded generator, so the same seed and connection order decide alike.
///
/// Byte limits (bytes=, after-bytes=) count the bytes written to the client from the moment
/// the fault took hold; time= counts from then too.
class fault_plan final : public step_plan {
 public:
  using clock = std::chrono::steady_clock;

  /// Who the connection is, for listener= and match=.
  struct connection {
    std::uint64_t id = 0;
    std::uint16_t listener = 0;
    std::optional<boost::asio::ip::address> peer;  ///< the PROXY source where there is one
  };

  /// The plan for a connection opening now, or null when no fault of the active set applies
  /// to it (the connection then pays nothing further).
  static std::unique_ptr<fault_plan> make(fault_engine& engine, const connection& c);

  step after_read(std::span<std::byte> data) override;
  step before_write(std::size_t pending) override;
  step on_start() override;
  step before_read() override;
  step on_peer_fin() override;
  std::optional<clock::time_point> wake_at() const override;
  step on_wake() override;
  int receive_buffer() const override;
  std::vector<fault_effect> effects() const override;

  /// Our receive buffer under slow-read: small, so the client's writes block soon.
  static constexpr int slow_read_buffer = 4096;

 private:
  // One fault as it applies to this connection: its spec and what it has done so far.
  struct applied {
    const active_fault* fault = nullptr;
    std::shared_ptr<const fault_set> owner;        ///< keeps `fault` alive after a live change
    clock::time_point since{};                     ///< when it took hold
    std::uint64_t base = 0;                        ///< bytes written when it took hold
    bool fired = false;                            ///< acted at least once (counted once)
    bool done = false;                             ///< a one-shot fault has acted, or an end was taken
    bool retired = false;                          ///< replaced by a live change: kept for the record
    std::uint64_t n = 0;                           ///< steps, writes or bytes, by fault
    std::uint64_t lo = ~std::uint64_t{0}, hi = 0;  ///< smallest and largest size or delay (ms)
    std::uint64_t at = 0;                          ///< the byte an end happened at
    std::vector<std::uint64_t> offsets;            ///< corrupt: stream offsets flipped (bounded)
    std::uint64_t more = 0;                        ///< offsets past the bound
    clock::time_point next{};                      ///< bandwidth, slow-read: when the next byte may go
  };

  fault_plan(fault_engine& engine, connection c, fault_random rng);

  /// Decides which faults of `set` apply to this connection, drawing from rng_.
  void decide(const std::shared_ptr<const fault_set>& set);
  void refresh();
  /// A live change since the last step: decide again (called first by every hook).
  void check_generation();
  void fire(applied& a);
  std::optional<step> ends(clock::time_point now);
  step end_step(applied& a, step::kind what);
  step pace(clock::time_point now);

  fault_engine& engine_;
  connection conn_;
  fault_random rng_;
  std::uint64_t generation_ = 0;
  std::vector<applied> faults_;  ///< in set order; retired ones stay for the record
  std::uint64_t written_ = 0;    ///< bytes the client was sent (echo, repeats, inserts)
  std::uint64_t received_ = 0;   ///< bytes read from the client
  std::size_t last_read_ = 0;
  unsigned repeats_ = 0;            ///< amplify: copies of the last read still to send
  std::vector<std::byte> garbage_;  ///< garbage-then-close's bytes, while they are sent
};

/// The client's address as the socket knows it (IPv4 or IPv6); nullopt for other families.
std::optional<boost::asio::ip::address> peer_address(int fd) noexcept;

/// Reads and drops what the socket already holds, without blocking (close-after: what the
/// client sent before our FIN must not turn the close into an RST).
void drop_received(int fd) noexcept;

}  // namespace echo::detail
