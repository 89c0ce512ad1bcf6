# The holders analysis core (analysis/): object index, graph, dominators,
# leak classes, on known graphs and against a naive model.
add_executable(test_analysis ${CMAKE_CURRENT_SOURCE_DIR}/test_analysis.c)
target_include_directories(test_analysis PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(test_analysis PRIVATE heapgrab_static)
add_test(NAME analysis_unit COMMAND test_analysis)
set_tests_properties(analysis_unit PROPERTIES TIMEOUT 300)
