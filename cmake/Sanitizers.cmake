# ECHO_SANITIZER=address -> ASan + UBSan, ECHO_SANITIZER=thread -> TSan.
# Applied globally (not per target) so every object in the process, tests included,
# is instrumented the same way; mixing instrumented and plain code hides reports.
# The one exception is UBSan in the test executables' own sources (ECHO_TEST_BODY_OPTIONS,
# which test/'s echo_test() applies): its checks are local to the code they are compiled into, so leaving them out of the
# test bodies hides nothing in the library, the app or the test support code, and it halves
# what a test file costs to compile under ASan + UBSan.
if(ECHO_SANITIZER STREQUAL "address")
  # -fno-sanitize=vptr: the vptr check reads vtables through a probe that needs a free file
  # descriptor; the EMFILE tests run the server with none left and the check then reports
  # Boost.System's error categories as "invalid vptr" (seen in accept_backoff_test).
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all)
  set(ECHO_TEST_BODY_OPTIONS -fno-sanitize=undefined)
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
