# Hostile cores (test_cores.py GROUP): crafted and mutated cores
# of core_target, a small process with every kind of chunk, made at test
# time with gcore and the kernel (needs root or CAP_SYS_PTRACE for gcore).
# In both builds; the mutants group runs for HG_FUZZ_SECONDS.  The long run
# is scripts/fuzz-cores.py.
if(HEAPGRAB_SANITIZE)
  set(HG_CORES_SANITIZED 1)
else()
  set(HG_CORES_SANITIZED 0)
endif()
foreach(group unknown crafted perms scale mutants)
  add_test(NAME cores_${group}
    COMMAND ${HG_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/test_cores.py ${group})
  set_tests_properties(cores_${group} PROPERTIES
    ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_CORE_TARGET=$<TARGET_FILE:core_target>;HG_SANITIZED=${HG_CORES_SANITIZED};HG_FUZZ_SECONDS=60"
    SKIP_RETURN_CODE 77 TIMEOUT 900)
endforeach()
