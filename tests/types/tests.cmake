# What the memory is (issue 15): heapgrab types against types_target
# (tests/targets), a C++ program that reports how many objects of each
# class it holds: live, without debug files, from a core, stripped, the
# profile's labels, the Python package, GDB's heapsnap types.  Without a
# C++ compiler there is no target and no live test.
#
# types_pprof_views: the profile's type labels in the size-class and the
# holders views, on a synthetic snapshot (no target).
add_executable(test_types_pprof ${HG_TESTS}/types/test_types_pprof.c)
target_link_libraries(test_types_pprof PRIVATE heapgrab_static)
target_include_directories(test_types_pprof PRIVATE
  ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/writers)
file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/types-pprof-out)
add_test(NAME types_pprof_views
  COMMAND test_types_pprof ${CMAKE_CURRENT_BINARY_DIR}/types-pprof-out)
set_tests_properties(types_pprof_views PROPERTIES TIMEOUT 60)

if(TARGET types_target)
  foreach(group live nodebug core stripped pprof python gdb)
    add_test(NAME types_${group}
      COMMAND ${HG_PYTHON3} ${HG_TESTS}/types/test_types.py ${group})
    set_tests_properties(types_${group} PROPERTIES
      ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HEAPGRAB_LIBRARY=$<TARGET_FILE:heapgrab>;HG_TYPES_TARGET=$<TARGET_FILE:types_target>;HG_TYPES_TARGET_STRIPPED=${CMAKE_CURRENT_BINARY_DIR}/types_target_stripped;HG_SANITIZE=${HEAPGRAB_SANITIZE}"
      SKIP_RETURN_CODE 77 TIMEOUT 300)
  endforeach()
endif()
