# The profile's tick grid (stacks/ticks.c) on made-up clocks.
add_executable(test_ticks ${CMAKE_CURRENT_SOURCE_DIR}/test_ticks.c)
target_include_directories(test_ticks PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(test_ticks PRIVATE heapgrab_static)
add_test(NAME stacks_ticks COMMAND test_ticks)
