# C unit tests: no target process (test_spans forks its own child).
set(HG_UNIT ${CMAKE_CURRENT_LIST_DIR})
foreach(t test_walker test_util test_ticks test_analysis test_spans)
  add_executable(${t} ${HG_UNIT}/${t}.c)
  target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${t} PRIVATE heapgrab_static)
endforeach()

# The walker on synthetic heap images, corrupted ones included.
add_test(NAME walker_synthetic COMMAND test_walker)
# The growable array and the hash map (lib/) against a plain model.
add_test(NAME util_array_hashmap COMMAND test_util)
# The profile's tick grid (stacks/ticks.c) on made-up clocks.
add_test(NAME stacks_ticks COMMAND test_ticks)
# The holders analyses (analysis/): object index, graph, dominators, leak
# classes, on known graphs and against a naive model.
add_test(NAME analysis_graphs COMMAND test_analysis)
set_tests_properties(analysis_graphs PROPERTIES TIMEOUT 300)
# The live backend's many-ranges read, against a child with a hole.
add_test(NAME live_spans COMMAND test_spans)
set_tests_properties(live_spans PROPERTIES TIMEOUT 60)
