# The walker on synthetic heap images, corrupted ones included.
add_executable(test_walker ${CMAKE_CURRENT_SOURCE_DIR}/test_walker.c)
target_include_directories(test_walker PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(test_walker PRIVATE heapgrab_static)
add_test(NAME walker_synthetic COMMAND test_walker)

# The utility layer (lib/array.h, lib/hashmap.h) against a plain model.
add_executable(test_util ${CMAKE_CURRENT_SOURCE_DIR}/test_util.c)
target_include_directories(test_util PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(test_util PRIVATE heapgrab_static)
add_test(NAME util_unit COMMAND test_util)
