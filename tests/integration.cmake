# Live ground-truth tests: heapgrab against gt_target (needs ptrace: root
# or CAP_SYS_PTRACE).
find_package(Threads REQUIRED)
add_executable(gt_target ${CMAKE_CURRENT_SOURCE_DIR}/targets/gt_target.c)
target_link_libraries(gt_target PRIVATE Threads::Threads)
target_compile_options(gt_target PRIVATE -O1)
# the live backend's many-ranges read, against a child with a hole
add_executable(test_spans ${CMAKE_CURRENT_SOURCE_DIR}/test_spans.c)
target_link_libraries(test_spans PRIVATE heapgrab_static)
target_include_directories(test_spans PRIVATE ${CMAKE_SOURCE_DIR})
add_test(NAME live_spans COMMAND test_spans)
set_tests_properties(live_spans PROPERTIES TIMEOUT 60)
# libheapgrab through a caller-supplied reader (the debugger's way in)
add_executable(test_reader ${CMAKE_CURRENT_SOURCE_DIR}/test_reader.c)
target_link_libraries(test_reader PRIVATE heapgrab_static)
find_program(HG_PYTHON3 python3 REQUIRED)
foreach(group figures threads mmapped pprof nodebug reader core safety kills errors static)
  add_test(NAME live_${group}
    COMMAND ${HG_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_live.py ${group})
  set_tests_properties(live_${group} PROPERTIES
    ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_TARGET_DIR=$<TARGET_FILE_DIR:gt_target>;HG_TEST_READER=$<TARGET_FILE:test_reader>"
    TIMEOUT 300)
endforeach()

# Other glibc versions, in Debian roots made by scripts/make-roots.sh
# (skipped, with a message, when there are none).
add_test(NAME glibc_versions
  COMMAND ${HG_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_versions.py)
set_tests_properties(glibc_versions PROPERTIES
  ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>"
  SKIP_RETURN_CODE 77 TIMEOUT 1800)

# Invariants after every step of longer scenarios (test_invariants.py GROUP),
# and a statically linked program without malloc, which heapgrab must refuse
# (built only where a static libc is installed; the check is skipped without).
include(CheckCSourceCompiles)
set(CMAKE_REQUIRED_LINK_OPTIONS -static)
check_c_source_compiles("int main(void) { return 0; }" HG_HAVE_STATIC_LIBC)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
if(HG_HAVE_STATIC_LIBC)
  add_executable(gt_static ${CMAKE_CURRENT_SOURCE_DIR}/targets/gt_static.c)
  target_link_options(gt_static PRIVATE -static)   # next to gt_target (same directory)
  # the ground-truth target with glibc linked in (live_static)
  add_executable(gt_target_static ${CMAKE_CURRENT_SOURCE_DIR}/targets/gt_target.c)
  target_link_libraries(gt_target_static PRIVATE Threads::Threads)
  target_compile_options(gt_target_static PRIVATE -O1)
  target_link_options(gt_target_static PRIVATE -static)
  # and without threads: no glibc version string is linked in
  add_executable(gt_target_static_st ${CMAKE_CURRENT_SOURCE_DIR}/targets/gt_target.c)
  target_compile_definitions(gt_target_static_st PRIVATE GT_NO_THREADS)
  target_compile_options(gt_target_static_st PRIVATE -O1)
  target_link_options(gt_target_static_st PRIVATE -static)
endif()
foreach(group invariants arenas pprof_labels exits fork)
  add_test(NAME invariants_${group}
    COMMAND ${HG_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_invariants.py ${group})
  set_tests_properties(invariants_${group} PROPERTIES
    ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_TARGET_DIR=$<TARGET_FILE_DIR:gt_target>"
    TIMEOUT 300)
endforeach()

# Thread stacks and the sampling profiler: stack_target's known call chains,
# built with frame pointers (-O0) and without (-O2: CFI only).
add_executable(stack_target ${CMAKE_CURRENT_SOURCE_DIR}/targets/stack_target.c)
target_link_libraries(stack_target PRIVATE Threads::Threads)
target_compile_options(stack_target PRIVATE -O0 -g -fno-omit-frame-pointer)
add_executable(stack_target_o2 ${CMAKE_CURRENT_SOURCE_DIR}/targets/stack_target.c)
target_link_libraries(stack_target_o2 PRIVATE Threads::Threads)
target_compile_options(stack_target_o2 PRIVATE -O2 -g -fomit-frame-pointer)
# and a C++ one, for demangled names (when a C++ compiler is there)
include(CheckLanguage)
check_language(CXX)
set(HG_STACKS_ENV "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_UNWINDERS=$<TARGET_FILE:unwinders>")
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  add_executable(cxx_target ${CMAKE_CURRENT_SOURCE_DIR}/targets/cxx_target.cc)
  target_link_libraries(cxx_target PRIVATE Threads::Threads)
  target_compile_options(cxx_target PRIVATE -O1 -g)
  set(HG_STACKS_ENV "${HG_STACKS_ENV};HG_CXX_TARGET=$<TARGET_FILE:cxx_target>")
endif()
add_test(NAME stacks
  COMMAND ${HG_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_stacks.py
          $<TARGET_FILE:stack_target> $<TARGET_FILE:stack_target_o2>)
set_tests_properties(stacks PROPERTIES ENVIRONMENT "${HG_STACKS_ENV}" TIMEOUT 300)

# Real Debian programs nobody here wrote (scripts/deps.sh installs them):
# heapsnap's figures against glibc's own mallinfo2() in one GDB stop, and
# the CLI's, symbols against heuristics.  The ASan build cannot load its
# library into gdb, so there only the CLI checks run.
set(HG_REALWORLD_ENV "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>")
if(NOT HEAPGRAB_SANITIZE)
  set(HG_REALWORLD_ENV "${HG_REALWORLD_ENV};HEAPGRAB_LIBRARY=$<TARGET_FILE:heapgrab>")
endif()
foreach(program perl python nginx postgres memcached)
  add_test(NAME realworld_${program}
    COMMAND ${HG_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_realworld.py ${program})
  set_tests_properties(realworld_${program} PROPERTIES
    ENVIRONMENT "${HG_REALWORLD_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)
endforeach()

# Corrupted live heaps: corrupt_target damages its own heap one way of
# forty-odd; heapgrab must name the damage, exit as documented and leave
# the target running (test_corrupt.py; in the ASan build too).
add_executable(corrupt_target ${CMAKE_CURRENT_SOURCE_DIR}/targets/corrupt_target.c)
target_link_libraries(corrupt_target PRIVATE Threads::Threads)
target_compile_options(corrupt_target PRIVATE -O1)
add_test(NAME live_corrupt
  COMMAND ${HG_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_corrupt.py)
set_tests_properties(live_corrupt PROPERTIES
  ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_TARGET_DIR=$<TARGET_FILE_DIR:corrupt_target>"
  SKIP_RETURN_CODE 77 TIMEOUT 600)
