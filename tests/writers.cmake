# Writers (text, JSON, pprof) on synthetic snapshots: no target process.
#
#   writers_unit      test_writers writes heap/empty .txt .json .pb.gz into
#                     writers-out/ and checks the text and the decoded pprof
#   writers_stacks    test_stack_writers does the same for the thread-stack
#                     writers (stacks, stacks_empty .txt .pb.gz), and their
#                     errors
#   writers_json      python3 parses the JSON strictly and checks every value
#   writers_pprof_go  `go tool pprof` reads the profiles (skipped without go)

# lib/snapshot.h and stacks/profile.h to build snapshots and profiles;
# profile.pb-c.h (generated) to decode.
foreach(t test_writers test_stack_writers)
  add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/writers/readback.c)
  target_link_libraries(${t} PRIVATE heapgrab_static)
  target_include_directories(${t} PRIVATE
    ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/writers)
endforeach()

set(WRITERS_OUT ${CMAKE_CURRENT_BINARY_DIR}/writers-out)

add_test(NAME writers_unit COMMAND test_writers ${WRITERS_OUT})
add_test(NAME writers_stacks COMMAND test_stack_writers ${WRITERS_OUT})
set_tests_properties(writers_unit writers_stacks PROPERTIES
  FIXTURES_SETUP writers_out TIMEOUT 60)

find_program(PYTHON3 python3)
if(PYTHON3)
  add_test(NAME writers_json
    COMMAND ${PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/writers/check_json.py ${WRITERS_OUT})
  set_tests_properties(writers_json PROPERTIES
    FIXTURES_REQUIRED writers_out TIMEOUT 60)
else()
  message(STATUS "python3 not found: writers_json will not run")
endif()

find_program(GO go)
find_program(BASH bash)
if(GO AND BASH)
  add_test(NAME writers_pprof_go
    COMMAND ${BASH} ${CMAKE_CURRENT_SOURCE_DIR}/writers/check_pprof_go.sh ${GO} ${WRITERS_OUT})
  set_tests_properties(writers_pprof_go PROPERTIES
    FIXTURES_REQUIRED writers_out TIMEOUT 120)
else()
  message(STATUS "go not found: writers_pprof_go will not run")
endif()
