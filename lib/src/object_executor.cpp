#include "echo/object_executor.hpp"

#include <boost/asio/strand.hpp>

namespace echo {

boost::asio::any_io_executor object_executor(boost::asio::io_context& io, bool multi_threaded) {
  if (multi_threaded) return boost::asio::make_strand(io);
  return io.get_executor();
}

}  // namespace echo
