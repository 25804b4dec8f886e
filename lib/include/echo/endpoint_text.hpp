#pragma once

#include <string>

#include <boost/asio/ip/tcp.hpp>

namespace echo {

/// "127.0.0.1", "[::1]": an address as it stands before a port, in URLs and endpoints.
std::string address_text(const boost::asio::ip::address& address);

/// "127.0.0.1:7007", "[::1]:7007": the port is always after the last ':'.
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& ep);

}  // namespace echo
