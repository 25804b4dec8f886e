# echo_add_boost_test(<target> [LABELS l...] [TIMEOUT s])
# Registers every Boost.Test case of <target> as its own CTest test (like gtest_discover_tests):
# after each build, the executable lists its cases (--list_content) and a generated file adds
# one test per case, so ctest -j runs cases in parallel and reports a real count.
set(_echo_boost_discover_script ${CMAKE_CURRENT_LIST_DIR}/BoostTestDiscoverRun.cmake)

function(echo_add_boost_test target)
  cmake_parse_arguments(ARG "" "TIMEOUT" "LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_tests.cmake)
  string(REPLACE ";" "," labels "${ARG_LABELS}")
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -D EXE=$<TARGET_FILE:${target}> -D OUT=${out}
            -D PREFIX=${target} -D LABELS=${labels} -D TIMEOUT=${ARG_TIMEOUT}
            -P ${_echo_boost_discover_script}
    BYPRODUCTS ${out}
    VERBATIM)
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${out})
endfunction()
