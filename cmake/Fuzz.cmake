# ECHO_FUZZ=ON: a libFuzzer build (clang only) of the fuzz targets under test/fuzz.
# Everything is compiled with coverage feedback and ASan + UBSan, so a bug in echo::core
# shows up wherever the fuzzer drives it; only the fuzz executables link libFuzzer's main.
option(ECHO_FUZZ "Build the libFuzzer targets (clang; see scripts/fuzz)" OFF)
if(ECHO_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ECHO_FUZZ needs clang (libFuzzer), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  if(NOT ECHO_SANITIZER STREQUAL "")
    message(FATAL_ERROR "ECHO_FUZZ brings its own sanitizers: leave ECHO_SANITIZER empty")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
  # The state machine's asserts catch a transition that should not happen before any
  # invariant check could: keep them in an optimised build.
  add_compile_options(-UNDEBUG)
endif()
