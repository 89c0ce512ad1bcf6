# Writers (text, JSON, pprof) on synthetic snapshots and profiles: no
# target process.
#
#   writers_heap      test_writers writes heap/empty .txt .json .pb.gz into
#                     writers-out/ and checks the text and the decoded pprof
#   writers_stacks    test_stack_writers does the same for the thread-stack
#                     writers (stacks, stacks_empty .txt .pb.gz), and their
#                     errors
#   writers_json      python3 parses the JSON strictly and checks every value
#   writers_pprof_go  `go tool pprof` reads the profiles (skipped, exit 77,
#                     without go)
set(HG_WRITERS ${CMAKE_CURRENT_LIST_DIR})

# lib/snapshot.h and stacks/profile.h to build snapshots and profiles;
# profile.pb-c.h (generated) to decode.
foreach(t test_writers test_stack_writers)
  add_executable(${t} ${HG_WRITERS}/${t}.c ${HG_WRITERS}/readback.c)
  target_link_libraries(${t} PRIVATE heapgrab_static)
  target_include_directories(${t} PRIVATE
    ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/writers)
endforeach()

set(WRITERS_OUT ${CMAKE_CURRENT_BINARY_DIR}/writers-out)

add_test(NAME writers_heap COMMAND test_writers ${WRITERS_OUT})
add_test(NAME writers_stacks COMMAND test_stack_writers ${WRITERS_OUT})
set_tests_properties(writers_heap writers_stacks PROPERTIES
  FIXTURES_SETUP writers_out TIMEOUT 60)

add_test(NAME writers_json
  COMMAND ${HG_PYTHON3} ${HG_WRITERS}/check_json.py ${WRITERS_OUT})
set_tests_properties(writers_json PROPERTIES
  FIXTURES_REQUIRED writers_out TIMEOUT 60)

# Always there: without go the script exits 77 and ctest says skipped.
find_program(GO go)
find_program(BASH bash REQUIRED)
add_test(NAME writers_pprof_go
  COMMAND ${BASH} ${HG_WRITERS}/check_pprof_go.sh "${GO}" ${WRITERS_OUT})
set_tests_properties(writers_pprof_go PROPERTIES
  FIXTURES_REQUIRED writers_out SKIP_RETURN_CODE 77 TIMEOUT 120)
