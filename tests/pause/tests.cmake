# The target's pause (issue 16): a walk of the copy made at the stop against
# a walk during the stop, --no-stop on a quiet and on a busy target, the
# memory budget.  Needs ptrace (root or CAP_SYS_PTRACE).
set(HG_PAUSE ${CMAKE_CURRENT_LIST_DIR})
add_executable(busy_target ${HG_PAUSE}/busy_target.c)
target_link_libraries(busy_target PRIVATE Threads::Threads)
foreach(group same holders no_stop_quiet no_stop_busy budget)
  add_test(NAME pause_${group}
    COMMAND ${HG_PYTHON3} ${HG_PAUSE}/test_pause.py ${group})
  set_tests_properties(pause_${group} PROPERTIES
    ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_TARGET_DIR=$<TARGET_FILE_DIR:gt_target>;HG_BUSY_TARGET=$<TARGET_FILE:busy_target>"
    SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
