# Project warnings as an INTERFACE target, linked PRIVATE by every first-party target,
# so Boost's and fmt's headers (included as SYSTEM) never trip them.
add_library(echo_warnings INTERFACE)
add_library(echo::warnings ALIAS echo_warnings)
target_compile_options(echo_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX,C>:-Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow
    -Wcast-align -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough>
  $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual>
  $<$<BOOL:${ECHO_WARNINGS_AS_ERRORS}>:-Werror>)
