#pragma once

#include <string>
#include <string_view>

namespace echo {

/// The ready output in a file, for harnesses that would rather wait for a path than read a
/// child's stdout. The file appears whole or not at all: the text goes to a temporary file
/// in the same directory, which is then renamed over `path`. Removed by the destructor, so
/// a file left behind means the process did not exit cleanly.
class ready_file {
 public:
  /// Writes `text` to `path`. Throws setup_error naming the path when it cannot.
  ready_file(std::string path, std::string_view text);
  ready_file(const ready_file&) = delete;
  ready_file& operator=(const ready_file&) = delete;
  ~ready_file();

  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

}  // namespace echo
