# What the memory is (issue 15): heapgrab types against types_target, a C++
# program that reports how many objects of each class it holds.  Built with
# debug info, and stripped (vtables found through their typeinfo's name
# strings).  Self-contained: it needs only the CLI and, for the pprof
# check, go (skipped without).
include(CheckLanguage)
check_language(CXX)
find_program(HG_TYPES_PYTHON3 python3 REQUIRED)
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  find_package(Threads REQUIRED)
  add_executable(types_target ${CMAKE_CURRENT_SOURCE_DIR}/targets/types_target.cc)
  target_link_libraries(types_target PRIVATE Threads::Threads)
  target_compile_options(types_target PRIVATE -O1 -g)
  # the same program with no symbol table and no debug info at all
  find_program(HG_STRIP strip REQUIRED)
  add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/types_target_stripped
    COMMAND ${HG_STRIP} -o ${CMAKE_CURRENT_BINARY_DIR}/types_target_stripped $<TARGET_FILE:types_target>
    DEPENDS types_target)
  add_custom_target(types_target_stripped ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/types_target_stripped)
  foreach(group live nodebug core stripped pprof python gdb)
    add_test(NAME types_${group}
      COMMAND ${HG_TYPES_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/types/test_types.py ${group})
    set_tests_properties(types_${group} PROPERTIES
      ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HEAPGRAB_LIBRARY=$<TARGET_FILE:heapgrab>;HG_TYPES_TARGET=$<TARGET_FILE:types_target>;HG_TYPES_TARGET_STRIPPED=${CMAKE_CURRENT_BINARY_DIR}/types_target_stripped;HG_SANITIZE=${HEAPGRAB_SANITIZE}"
      SKIP_RETURN_CODE 77 TIMEOUT 300)
  endforeach()
endif()
