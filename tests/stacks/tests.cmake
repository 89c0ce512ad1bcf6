# Thread stacks and the sampling profiler: `heapgrab stacks` and `heapgrab
# profile` against stack_target's known call chains, on its build with
# frame pointers and its build without (CFI only); cxx_target, when a C++
# compiler built it, for demangled names.  (The tick grid's unit test is
# stacks_ticks, in tests/unit.)
set(HG_STACKS_ENV "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_UNWINDERS=$<TARGET_FILE:unwinders>")
if(TARGET cxx_target)
  set(HG_STACKS_ENV "${HG_STACKS_ENV};HG_CXX_TARGET=$<TARGET_FILE:cxx_target>")
endif()
add_test(NAME stacks_profiles
  COMMAND ${HG_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/test_stacks.py
          $<TARGET_FILE:stack_target> $<TARGET_FILE:stack_target_o2>)
set_tests_properties(stacks_profiles PROPERTIES
  ENVIRONMENT "${HG_STACKS_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
