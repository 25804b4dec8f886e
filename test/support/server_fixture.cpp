#include "server_fixture.hpp"

#include <iostream>

namespace echo::test {

config server_fixture::default_config() {
  config cfg;
  cfg.listeners = {echo::listener_spec{boost::asio::ip::make_address("127.0.0.1"), 0}};
  cfg.level = log_level::warn;
  return cfg;
}

server_fixture::server_fixture(unsigned threads, config cfg, plan_factory plans)
    : rt_(threads), srv_(std::make_unique<echo::server>(rt_.context(), cfg, rt_.multi_threaded())) {
  if (plans) srv_->set_step_plans(std::move(plans));
  srv_->start();
  done_ = std::async(std::launch::async, [this] { rt_.run(); });
}

bool server_fixture::stop(std::chrono::milliseconds grace, std::chrono::milliseconds wait) {
  stopped_ = true;
  srv_->shutdown(grace);
  return done_.wait_for(wait) == std::future_status::ready;
}

server_fixture::~server_fixture() {
  if (!stopped_) stop(std::chrono::milliseconds(200), std::chrono::seconds(10));
  if (done_.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    std::cerr << "server_fixture: run() did not return; aborting\n";
    srv_->abort();
    rt_.stop();
    if (done_.wait_for(std::chrono::seconds(5)) != std::future_status::ready) std::abort();
  }
  done_.get();
}

}  // namespace echo::test
