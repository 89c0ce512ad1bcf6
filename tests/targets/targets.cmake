# The ground-truth target programs: each reports what it holds (its own
# mallinfo2(), its blocks, its threads' call chains) so that the tests can
# check heapgrab against it.  All are built here, in tests/'s build
# directory: the tests find them there (HG_TARGET_DIR).
find_package(Threads REQUIRED)
set(HG_TARGETS ${CMAKE_CURRENT_LIST_DIR})

# gt_target: commands in, one JSON answer each (tests/heap, tests/frontends)
add_executable(gt_target ${HG_TARGETS}/gt_target.c)
target_link_libraries(gt_target PRIVATE Threads::Threads)
target_compile_options(gt_target PRIVATE -O1)

# core_target: a small process with every kind of chunk (tests/cores)
add_executable(core_target ${HG_TARGETS}/core_target.c)
target_link_libraries(core_target PRIVATE Threads::Threads)
target_compile_options(core_target PRIVATE -O1)

# corrupt_target: damages its own heap one way of forty-odd (tests/heap)
add_executable(corrupt_target ${HG_TARGETS}/corrupt_target.c)
target_link_libraries(corrupt_target PRIVATE Threads::Threads)
target_compile_options(corrupt_target PRIVATE -O1)

# Statically linked programs, built only where a static libc is installed
# (the tests that need them are skipped without): one without malloc, which
# heapgrab must refuse, and gt_target with glibc linked in, with threads
# and without (then no glibc version string is linked in).
include(CheckCSourceCompiles)
set(CMAKE_REQUIRED_LINK_OPTIONS -static)
check_c_source_compiles("int main(void) { return 0; }" HG_HAVE_STATIC_LIBC)
unset(CMAKE_REQUIRED_LINK_OPTIONS)
if(HG_HAVE_STATIC_LIBC)
  add_executable(gt_static ${HG_TARGETS}/gt_static.c)
  target_link_options(gt_static PRIVATE -static)
  add_executable(gt_target_static ${HG_TARGETS}/gt_target.c)
  target_link_libraries(gt_target_static PRIVATE Threads::Threads)
  target_compile_options(gt_target_static PRIVATE -O1)
  target_link_options(gt_target_static PRIVATE -static)
  add_executable(gt_target_static_st ${HG_TARGETS}/gt_target.c)
  target_compile_definitions(gt_target_static_st PRIVATE GT_NO_THREADS)
  target_compile_options(gt_target_static_st PRIVATE -O1)
  target_link_options(gt_target_static_st PRIVATE -static)
endif()

# stack_target: threads running known call chains, built with frame
# pointers (-O0) and without (-O2: CFI only) (tests/stacks)
add_executable(stack_target ${HG_TARGETS}/stack_target.c)
target_link_libraries(stack_target PRIVATE Threads::Threads)
target_compile_options(stack_target PRIVATE -O0 -g -fno-omit-frame-pointer)
add_executable(stack_target_o2 ${HG_TARGETS}/stack_target.c)
target_link_libraries(stack_target_o2 PRIVATE Threads::Threads)
target_compile_options(stack_target_o2 PRIVATE -O2 -g -fomit-frame-pointer)

# and a C++ one, for demangled names (when a C++ compiler is there)
include(CheckLanguage)
check_language(CXX)
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  add_executable(cxx_target ${HG_TARGETS}/cxx_target.cc)
  target_link_libraries(cxx_target PRIVATE Threads::Threads)
  target_compile_options(cxx_target PRIVATE -O1 -g)
  # types_target: objects of known C++ classes, counted by the program
  # (tests/types); and the same with no symbol table or debug info at all
  add_executable(types_target ${HG_TARGETS}/types_target.cc ${HG_TARGETS}/types_target_c.c)
  target_link_libraries(types_target PRIVATE Threads::Threads)
  target_compile_options(types_target PRIVATE -O1 -g)
  find_program(HG_STRIP strip REQUIRED)
  add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/types_target_stripped
    COMMAND ${HG_STRIP} -o ${CMAKE_CURRENT_BINARY_DIR}/types_target_stripped
            $<TARGET_FILE:types_target>
    DEPENDS types_target)
  add_custom_target(types_target_stripped ALL
    DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/types_target_stripped)
endif()

# mallinfo_probe: LD_PRELOADed into real programs (tests/heap's realworld
# tests), it answers glibc's mallinfo2() from inside the process, where
# GDB cannot call it (see the file).  Plain: no sanitizer, no heapgrab.
add_library(mallinfo_probe SHARED ${HG_TARGETS}/mallinfo_probe.c)
target_link_libraries(mallinfo_probe PRIVATE Threads::Threads)
target_compile_options(mallinfo_probe PRIVATE -O1 -Wall -Wextra)
