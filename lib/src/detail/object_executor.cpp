#include "detail/object_executor.hpp"

#include <boost/asio/strand.hpp>

namespace echo::detail {

boost::asio::any_io_executor object_executor(boost::asio::io_context& io, bool multi_threaded) {
  if (multi_threaded) return boost::asio::make_strand(io);
  return io.get_executor();
}

}  // namespace echo::detail
