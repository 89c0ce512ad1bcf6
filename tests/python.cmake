# The Python package (pytest) and the GDB command (real GDB, gdbserver),
# both loading the shared library.  Not in the sanitizer build: an
# ASan-instrumented library cannot be loaded into an uninstrumented python3
# or gdb (ASan must come first in the process); the C paths they use are
# covered by the CLI and test_reader there.
if(NOT HEAPGRAB_SANITIZE)
  # Debian's python3 (python3-pytest), whatever python3 comes first on PATH
  find_program(HG_SYSTEM_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
  set(HG_PY_ENV
    "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HEAPGRAB_LIBRARY=$<TARGET_FILE:heapgrab>;HG_TARGET_DIR=$<TARGET_FILE_DIR:gt_target>")
  add_test(NAME python_package
    COMMAND ${HG_SYSTEM_PYTHON3} -m pytest -q -p no:cacheprovider
            ${CMAKE_CURRENT_SOURCE_DIR}/python/test_package.py)
  add_test(NAME gdb_heapsnap
    COMMAND ${HG_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_gdb.py)
  set_tests_properties(python_package gdb_heapsnap PROPERTIES ENVIRONMENT "${HG_PY_ENV}" TIMEOUT 300)
  # The package's ctypes mirrors of C structs against the header as compiled.
  add_executable(struct_layout ${CMAKE_CURRENT_SOURCE_DIR}/python/struct_layout.c)
  target_include_directories(struct_layout PRIVATE ${PROJECT_SOURCE_DIR}/include)
  add_test(NAME python_layout
    COMMAND ${HG_SYSTEM_PYTHON3} -m pytest -q -p no:cacheprovider
            ${CMAKE_CURRENT_SOURCE_DIR}/python/test_layout.py)
  set_tests_properties(python_layout PROPERTIES
    ENVIRONMENT "HEAPGRAB_LIBRARY=$<TARGET_FILE:heapgrab>;HG_STRUCT_LAYOUT=$<TARGET_FILE:struct_layout>"
    TIMEOUT 60)
endif()
