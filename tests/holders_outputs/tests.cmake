# Who holds the memory: the outputs (issue 14, section 5), on synthetic
# snapshots, so they pass whether or not the library finds holders in a
# real process; and one end-to-end test that is skipped until it does.
#
#   holders_outputs_unit      test_holders_outputs writes every output into
#                             holders-outputs-out/ and reads the pprof back
#   holders_outputs_json      check_outputs.py: the JSON values, recomputed
#   holders_outputs_pprof_go  go tool pprof -top -cum / -list (skip: no go)
#   holders_outputs_cli       argument errors of holders, leaks, --by-size
#   holders_outputs_e2e       holders_outputs_target live (skip: no holders)
#   holders_outputs_python    the package's holders(), leaks() on the synthetic
#                             snapshot (a shared library)
#   holders_outputs_gdb       heapsnap holders / leaks in GDB (skip: no gdb;
#                             the figures skipped: no holders)
set(HO_DIR ${CMAKE_CURRENT_SOURCE_DIR}/holders_outputs)
set(HO_OUT ${CMAKE_CURRENT_BINARY_DIR}/holders-outputs-out)

add_executable(test_holders_outputs ${HO_DIR}/test_holders_outputs.c ${HO_DIR}/synthetic.c)
target_link_libraries(test_holders_outputs PRIVATE heapgrab_static)
target_include_directories(test_holders_outputs PRIVATE
  ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/writers)
add_test(NAME holders_outputs_unit COMMAND test_holders_outputs ${HO_OUT})
set_tests_properties(holders_outputs_unit PROPERTIES
  FIXTURES_SETUP holders_outputs_out SKIP_RETURN_CODE 77 TIMEOUT 60)

find_program(HO_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
add_test(NAME holders_outputs_json
  COMMAND ${HO_PYTHON3} ${HO_DIR}/check_outputs.py ${HO_OUT})
set_tests_properties(holders_outputs_json PROPERTIES
  FIXTURES_REQUIRED holders_outputs_out SKIP_RETURN_CODE 77 TIMEOUT 60)

# go is looked for when the test runs: exit 77 (skipped) without it.
add_test(NAME holders_outputs_pprof_go
  COMMAND bash ${HO_DIR}/check_pprof_go.sh ${HO_OUT})
set_tests_properties(holders_outputs_pprof_go PROPERTIES
  FIXTURES_REQUIRED holders_outputs_out SKIP_RETURN_CODE 77 TIMEOUT 120)

add_test(NAME holders_outputs_cli
  COMMAND ${HO_PYTHON3} ${HO_DIR}/test_cli.py)
set_tests_properties(holders_outputs_cli PROPERTIES
  ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>" SKIP_RETURN_CODE 77 TIMEOUT 60)

# The ground-truth target of the holders tests, under a name of its own.
add_executable(holders_outputs_target ${CMAKE_CURRENT_SOURCE_DIR}/targets/holders_target.c)
target_link_libraries(holders_outputs_target PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
target_compile_options(holders_outputs_target PRIVATE -O1 -g)
add_test(NAME holders_outputs_e2e
  COMMAND ${HO_PYTHON3} ${HO_DIR}/test_e2e.py)
set_tests_properties(holders_outputs_e2e PROPERTIES
  ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_HOLDERS_TARGET=$<TARGET_FILE:holders_outputs_target>;HG_OUT=${HO_OUT}"
  SKIP_RETURN_CODE 77 TIMEOUT 300)

# The Python package's holders(), leaks(), objects() on the synthetic
# snapshot, loaded from a shared library (not in the sanitizer build: see
# tests/python.cmake).
if(NOT HEAPGRAB_SANITIZE)
  add_library(holders_synthetic SHARED ${HO_DIR}/synthetic.c)
  target_link_libraries(holders_synthetic PRIVATE heapgrab)
  target_include_directories(holders_synthetic PRIVATE ${PROJECT_SOURCE_DIR})
  add_test(NAME holders_outputs_python
    COMMAND ${HO_PYTHON3} -m pytest -q -p no:cacheprovider ${HO_DIR}/test_python.py)
  set_tests_properties(holders_outputs_python PROPERTIES
    ENVIRONMENT "HEAPGRAB_LIBRARY=$<TARGET_FILE:heapgrab>;HG_SYNTHETIC=$<TARGET_FILE:holders_synthetic>"
    SKIP_RETURN_CODE 77 TIMEOUT 60)
  # heapsnap holders / leaks in GDB (skipped without gdb; the figures
  # skipped while snapshots come without holders)
  add_test(NAME holders_outputs_gdb COMMAND ${HO_PYTHON3} ${HO_DIR}/test_gdb.py)
  set_tests_properties(holders_outputs_gdb PROPERTIES
    ENVIRONMENT "HEAPGRAB_LIBRARY=$<TARGET_FILE:heapgrab>;HG_HOLDERS_TARGET=$<TARGET_FILE:holders_outputs_target>"
    SKIP_RETURN_CODE 77 TIMEOUT 600)
endif()
