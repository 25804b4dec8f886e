#include "echo/endpoint_text.hpp"

#include <fmt/format.h>

namespace echo {

std::string address_text(const boost::asio::ip::address& address) {
  return address.is_v6() ? fmt::format("[{}]", address.to_string()) : address.to_string();
}

std::string endpoint_text(const boost::asio::ip::tcp::endpoint& ep) {
  return fmt::format("{}:{}", address_text(ep.address()), ep.port());
}

}  // namespace echo
