# ECHO_SANITIZER=address -> ASan + UBSan, ECHO_SANITIZER=thread -> TSan.
# Applied globally (not per target) so every object in the process, tests included,
# is instrumented the same way; mixing instrumented and plain code hides reports.
# The exception is the test executables' own sources under ASan (ECHO_TEST_BODY_OPTIONS,
# which test/'s echo_test() applies): they keep ASan but drop UBSan, whose checks are local to
# the code they are compiled into, and optimisation, which a test body that mostly waits on
# sockets does not need. The library, the app and the test support code keep both; a test
# file then compiles in well under half the time.
if(ECHO_SANITIZER STREQUAL "address")
  # -fno-sanitize=vptr: the vptr check reads vtables through a probe that needs a free file
  # descriptor; the EMFILE tests run the server with none left and the check then reports
  # Boost.System's error categories as "invalid vptr" (seen in accept_backoff_test).
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all)
  set(ECHO_TEST_BODY_OPTIONS -fno-sanitize=undefined -O0)
  # GCC documents that ASan instrumentation produces false -Wmaybe-uninitialized reports.
  add_compile_options(-Wno-maybe-uninitialized)
elseif(ECHO_SANITIZER STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  # g++ 12 warns about atomic_thread_fence inside Asio's headers under TSan.
  add_compile_options(-Wno-tsan)
elseif(NOT ECHO_SANITIZER STREQUAL "")
  message(FATAL_ERROR "ECHO_SANITIZER must be '', 'address' or 'thread', not '${ECHO_SANITIZER}'")
endif()
