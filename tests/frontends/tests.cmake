# The frontends over the shared library: the Python package (pytest), its
# ctypes mirrors of the header's structs, and the GDB command (real GDB,
# gdbserver).  Not in the sanitizer build: an ASan-instrumented library
# cannot be loaded into an uninstrumented python3 or gdb (ASan must come
# first in the process); the C paths they use are covered by the CLI and
# test_reader there.
if(NOT HEAPGRAB_SANITIZE)
  set(HG_FRONTENDS ${CMAKE_CURRENT_LIST_DIR})
  # Debian's python3 (python3-pytest), whatever python3 comes first on PATH
  find_program(HG_SYSTEM_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
  set(HG_PY_ENV
    "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HEAPGRAB_LIBRARY=$<TARGET_FILE:heapgrab>;HG_TARGET_DIR=$<TARGET_FILE_DIR:gt_target>")
  # run_pytest.py: 77 without pytest or when every test skipped
  add_test(NAME python_package
    COMMAND ${HG_SYSTEM_PYTHON3} ${HG_FRONTENDS}/run_pytest.py ${HG_FRONTENDS}/test_package.py)
  add_test(NAME gdb_heapsnap
    COMMAND ${HG_PYTHON3} ${HG_FRONTENDS}/test_gdb.py)
  set_tests_properties(python_package gdb_heapsnap PROPERTIES
    ENVIRONMENT "${HG_PY_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 300)
  # The package's ctypes mirrors of C structs against the header as compiled.
  add_executable(struct_layout ${HG_FRONTENDS}/struct_layout.c)
  target_include_directories(struct_layout PRIVATE ${PROJECT_SOURCE_DIR}/include)
  add_test(NAME python_struct_mirrors
    COMMAND ${HG_SYSTEM_PYTHON3} ${HG_FRONTENDS}/run_pytest.py ${HG_FRONTENDS}/test_layout.py)
  set_tests_properties(python_struct_mirrors PROPERTIES
    ENVIRONMENT "HEAPGRAB_LIBRARY=$<TARGET_FILE:heapgrab>;HG_STRUCT_LAYOUT=$<TARGET_FILE:struct_layout>"
    SKIP_RETURN_CODE 77 TIMEOUT 60)
endif()

find_program(HG_SYSTEM_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
# Every --json output against its schema in doc/ (Debian's python3 for
# python3-jsonschema; 77 without it).  In both builds: it runs the CLI.
add_test(NAME json_schemas
  COMMAND ${HG_SYSTEM_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/test_schemas.py ${PROJECT_SOURCE_DIR}
          ${CMAKE_BINARY_DIR}/tests/holders-outputs-out)
set_tests_properties(json_schemas PROPERTIES
  ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_TARGET_DIR=$<TARGET_FILE_DIR:gt_target>;HG_SAMPLER=$<TARGET_FILE:heapgrab_sampler>"
  FIXTURES_REQUIRED holders_outputs_out SKIP_RETURN_CODE 77 TIMEOUT 300)

# The progress line on a terminal (a pty), and never elsewhere.
add_test(NAME cli_progress COMMAND ${HG_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/test_progress.py)
set_tests_properties(cli_progress PROPERTIES
  ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_TARGET_DIR=$<TARGET_FILE_DIR:gt_target>"
  SKIP_RETURN_CODE 77 TIMEOUT 300)
