#include "echo/testing/fixture.hpp"

#include "echo/fault_spec.hpp"

#include <cstdio>
#include <cstdlib>

#include <boost/asio/ip/address.hpp>

namespace echo::testing {

config fixture::loopback() {
  config cfg;
  cfg.listeners = {listener_spec{boost::asio::ip::make_address("127.0.0.1"), 0}};
  cfg.level = log_level::warn;
  return cfg;
}

fixture::fixture(config cfg, unsigned threads, plan_factory plans)
    : runtime_(threads),
      server_(std::make_unique<echo::server>(runtime_.context(), cfg, runtime_.multi_threaded())) {
  if (plans) server_->set_step_plans(std::move(plans));
  server_->start();
  done_ = std::async(std::launch::async, [this] { runtime_.run(); });
}

void fixture::set_faults(std::initializer_list<std::string_view> specs) {
  std::vector<fault_spec> faults;
  faults.reserve(specs.size());
  for (const auto spec : specs) faults.push_back(parse_fault_spec(spec));
  server_->set_faults(std::move(faults));
}

bool fixture::stop(std::chrono::milliseconds grace, std::chrono::milliseconds wait) {
  if (!stopped_) {
    stopped_ = true;
    server_->shutdown(grace);
  }
  return done_.wait_for(wait) == std::future_status::ready;
}

fixture::~fixture() {
  if (!stop()) {
    std::fputs("echo::testing::fixture: the server did not stop; aborting it\n", stderr);
    server_->abort();
    runtime_.stop();
    if (done_.wait_for(std::chrono::seconds(5)) != std::future_status::ready) std::abort();
  }
  // An exception that escaped a handler ends the test binary here, not silently.
  done_.get();
}

}  // namespace echo::testing
