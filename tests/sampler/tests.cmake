# The allocation sampler (sampler/, issue 18) and heapgrab allocs, against
# ground truth (tests/targets/alloc_target.c).  Live tests need ptrace
# (root, or ptrace_scope 0); core tests need gcore; go_list needs go
# (each skips with 77 without).
#
#   sampler_exact_live    rate 1: per function alloc/inuse objects and bytes
#                         exact in the pprof; exact counters' change over a
#                         command exact; allocated - freed == heap walk
#   sampler_exact_core    the same from a gcore core, equal to the live read
#   sampler_default_rate  512 KiB: functions of >= 256 MiB within 15%
#   sampler_absent        no sampler: one line, exit 11
#   sampler_stress        16 threads, fork+exec, dlopen/dlclose...
#   sampler_go_list       go tool pprof -list shows the allocating line
#   sampler_hostile       crafted tables: refused or read, never a crash
#   sampler_gdb           heapsnap --allocs: attached, core, gdbserver
#   sampler_run_cli       heapgrab run: environment, exit status, refusals
#   sampler_cxx           new/new[] from a C++ member function, operator new dropped
add_executable(alloc_target ${CMAKE_CURRENT_SOURCE_DIR}/targets/alloc_target.c)
target_compile_options(alloc_target PRIVATE -O1 -fno-omit-frame-pointer)
add_executable(stress_target ${CMAKE_CURRENT_SOURCE_DIR}/sampler/stress_target.c)
target_link_libraries(stress_target PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
add_library(sampler_alloclib MODULE ${CMAKE_CURRENT_SOURCE_DIR}/sampler/alloc_lib.c)
set_target_properties(sampler_alloclib PROPERTIES PREFIX "lib")
add_executable(hostile_table ${CMAKE_CURRENT_SOURCE_DIR}/sampler/hostile_table.c)
target_include_directories(hostile_table PRIVATE ${PROJECT_SOURCE_DIR})
set_target_properties(hostile_table PROPERTIES ENABLE_EXPORTS ON)
add_executable(allocs_readback ${CMAKE_CURRENT_SOURCE_DIR}/sampler/allocs_readback.c
               ${CMAKE_CURRENT_SOURCE_DIR}/writers/readback.c)
target_link_libraries(allocs_readback PRIVATE heapgrab_static)
target_include_directories(allocs_readback PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/writers)

# C++: new and new[] reach the sampler through libstdc++ (when a C++
# compiler is there; sampler_cxx skips without it)
include(CheckLanguage)
check_language(CXX)
set(HG_SAMPLER_CXX "")
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  add_executable(cxx_alloc_target ${CMAKE_CURRENT_SOURCE_DIR}/sampler/cxx_alloc_target.cc)
  target_compile_options(cxx_alloc_target PRIVATE -O1 -g)
  set(HG_SAMPLER_CXX ";HG_CXX_ALLOC_TARGET=$<TARGET_FILE:cxx_alloc_target>")
endif()

find_program(HG_SAMPLER_PYTHON3 python3 REQUIRED)
# sampler_gdb loads the shared library into GDB's python: not in the
# sanitizer build (ASan must come first in the process), as python.cmake.
set(HG_SAMPLER_TESTS exact_live exact_core default_rate absent stress go_list hostile run_cli cxx)
if(NOT HEAPGRAB_SANITIZE)
  list(APPEND HG_SAMPLER_TESTS gdb)
endif()
foreach(t ${HG_SAMPLER_TESTS})
  add_test(NAME sampler_${t}
    COMMAND ${HG_SAMPLER_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/sampler/test_sampler.py ${t})
  set_tests_properties(sampler_${t} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900
    ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_SAMPLER=$<TARGET_FILE:heapgrab_sampler>;HG_ALLOC_TARGET=$<TARGET_FILE:alloc_target>;HG_STRESS_TARGET=$<TARGET_FILE:stress_target>;HG_ALLOC_LIB=$<TARGET_FILE:sampler_alloclib>;HG_READBACK=$<TARGET_FILE:allocs_readback>;HG_HOSTILE_TARGET=$<TARGET_FILE:hostile_table>;HG_LIBRARY=$<TARGET_FILE:heapgrab>${HG_SAMPLER_CXX}")
endforeach()

# The allocation profile writer on profiles made by the test: Go's
# unsampling formula, labels, lines, empty profile, failing streams.
add_executable(test_allocs_writer ${CMAKE_CURRENT_SOURCE_DIR}/sampler/test_allocs_writer.c
               ${CMAKE_CURRENT_SOURCE_DIR}/writers/readback.c)
target_link_libraries(test_allocs_writer PRIVATE heapgrab_static m)
target_include_directories(test_allocs_writer PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/writers)
add_test(NAME sampler_writer COMMAND test_allocs_writer ${CMAKE_CURRENT_BINARY_DIR}/sampler-out)
set_tests_properties(sampler_writer PROPERTIES TIMEOUT 60
  FIXTURES_REQUIRED sampler_out)
add_test(NAME sampler_writer_dir COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/sampler-out)
set_tests_properties(sampler_writer_dir PROPERTIES FIXTURES_SETUP sampler_out)
