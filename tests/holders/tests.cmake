# Who holds the memory (issue 14): the engine against holders_target's own
# account of what each root retains and what it leaked.
find_package(Threads REQUIRED)
add_executable(holders_target ${CMAKE_CURRENT_SOURCE_DIR}/targets/holders_target.c)
target_link_libraries(holders_target PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
target_compile_options(holders_target PRIVATE -O1 -g)
add_library(holders_tls_lib SHARED ${CMAKE_CURRENT_SOURCE_DIR}/targets/holders_tls_lib.c)
target_compile_options(holders_tls_lib PRIVATE -g)
add_executable(holders_dump ${CMAKE_CURRENT_SOURCE_DIR}/holders/holders_dump.c)
target_link_libraries(holders_dump PRIVATE heapgrab_static)
find_program(HG_HOLDERS_PYTHON3 python3 REQUIRED)
foreach(mode live core nodebug)
  add_test(NAME holders_${mode}
    COMMAND ${HG_HOLDERS_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/holders/test_holders.py ${mode})
  set_tests_properties(holders_${mode} PROPERTIES
    ENVIRONMENT "HOLDERS_DUMP=$<TARGET_FILE:holders_dump>;HOLDERS_TARGET=$<TARGET_FILE:holders_target>;HOLDERS_TLS_LIB=$<TARGET_FILE:holders_tls_lib>"
    SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
# Bad input: every damage corrupt_target does to its own heap, and a core
# whose modules are missing.
add_executable(holders_corrupt_target ${CMAKE_CURRENT_SOURCE_DIR}/targets/corrupt_target.c)
target_link_libraries(holders_corrupt_target PRIVATE Threads::Threads)
target_compile_options(holders_corrupt_target PRIVATE -O1)
add_test(NAME holders_bad
  COMMAND ${HG_HOLDERS_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/holders/test_holders_bad.py)
set_tests_properties(holders_bad PROPERTIES
  ENVIRONMENT "HOLDERS_DUMP=$<TARGET_FILE:holders_dump>;HOLDERS_TARGET=$<TARGET_FILE:holders_target>;HOLDERS_CORRUPT_TARGET=$<TARGET_FILE:holders_corrupt_target>"
  SKIP_RETURN_CODE 77 TIMEOUT 600)
# The target's own account against LeakSanitizer's, at the same point (the
# target built with -fsanitize=leak runs LeakSanitizer's allocator, so
# heapgrab is not involved: this checks the ground truth the tests above
# hold heapgrab to).
include(CheckCSourceCompiles)
set(CMAKE_REQUIRED_FLAGS -fsanitize=leak)
check_c_source_compiles("int main(void) { return 0; }" HG_HAVE_LSAN)
unset(CMAKE_REQUIRED_FLAGS)
if(HG_HAVE_LSAN)
  add_executable(holders_target_lsan ${CMAKE_CURRENT_SOURCE_DIR}/targets/holders_target.c)
  target_compile_definitions(holders_target_lsan PRIVATE LSAN)
  target_compile_options(holders_target_lsan PRIVATE -O1 -g -fsanitize=leak)
  target_link_options(holders_target_lsan PRIVATE -fsanitize=leak)
  target_link_libraries(holders_target_lsan PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
  add_test(NAME holders_lsan
    COMMAND ${HG_HOLDERS_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/holders/test_holders.py lsan)
  set_tests_properties(holders_lsan PROPERTIES
    ENVIRONMENT "HOLDERS_DUMP=$<TARGET_FILE:holders_dump>;HOLDERS_TARGET=$<TARGET_FILE:holders_target_lsan>;HOLDERS_TLS_LIB=$<TARGET_FILE:holders_tls_lib>"
    SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
# The same target built and run in each glibc root of scripts/make-roots.sh
# (skipped without roots).
add_test(NAME holders_versions
  COMMAND ${HG_HOLDERS_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/holders/test_holders.py versions)
set_tests_properties(holders_versions PROPERTIES
  ENVIRONMENT "HOLDERS_DUMP=$<TARGET_FILE:holders_dump>;HOLDERS_TARGET=$<TARGET_FILE:holders_target>;HOLDERS_TLS_LIB=$<TARGET_FILE:holders_tls_lib>"
  SKIP_RETURN_CODE 77 TIMEOUT 1800)
