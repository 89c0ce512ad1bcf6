# Live heaps against ground truth: heapgrab against targets that report
# their own mallinfo2() and what they hold (needs ptrace: root or
# CAP_SYS_PTRACE).  The targets are built by tests/targets/targets.cmake.
set(HG_HEAP ${CMAKE_CURRENT_LIST_DIR})

# libheapgrab through a caller-supplied reader (the debugger's way in),
# run by test_live.py reader against gt_target
add_executable(test_reader ${HG_HEAP}/test_reader.c)
target_link_libraries(test_reader PRIVATE heapgrab_static)

# mallinfo2 and the known blocks, threads, mmapped chunks, pprof, without
# debug information, through a reader, cores, safety, kills, errors, static
foreach(group figures threads mmapped pprof nodebug reader core safety kills errors static)
  add_test(NAME live_${group}
    COMMAND ${HG_PYTHON3} ${HG_HEAP}/test_live.py ${group})
  set_tests_properties(live_${group} PROPERTIES
    ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_TARGET_DIR=$<TARGET_FILE_DIR:gt_target>;HG_TEST_READER=$<TARGET_FILE:test_reader>"
    SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()

# Invariants after every step of longer scenarios (test_invariants.py GROUP).
# The group 'invariants' is the step-by-step check of everything.
foreach(group invariants arenas pprof_labels exits fork)
  if(group STREQUAL "invariants")
    set(name invariants_steps)
  else()
    set(name invariants_${group})
  endif()
  add_test(NAME ${name}
    COMMAND ${HG_PYTHON3} ${HG_HEAP}/test_invariants.py ${group})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_TARGET_DIR=$<TARGET_FILE_DIR:gt_target>"
    SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()

# The same live tests with their targets on glibc 2.43 (no fastbins, 16
# chunks a tcache bin): built in the Debian sid root that
# scripts/make-roots.sh makes, run chrooted, attached from the host
# (HG_TARGET_ROOT; skipped, exit 77, without the root).
set(HG_ROOTS "/var/tmp/heapgrab-roots" CACHE PATH "the glibc roots of scripts/make-roots.sh")
add_test(NAME live_on_glibc_2_43
  COMMAND ${HG_PYTHON3} ${HG_HEAP}/test_live.py figures threads mmapped pprof)
add_test(NAME invariants_on_glibc_2_43
  COMMAND ${HG_PYTHON3} ${HG_HEAP}/test_invariants.py invariants)
set_tests_properties(live_on_glibc_2_43 invariants_on_glibc_2_43 PROPERTIES
  ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_TARGET_DIR=$<TARGET_FILE_DIR:gt_target>;HG_TARGET_ROOT=${HG_ROOTS}/sid"
  SKIP_RETURN_CODE 77 TIMEOUT 300)

# Corrupted live heaps: corrupt_target damages its own heap one way of
# forty-odd; heapgrab must name the damage, exit as documented and leave
# the target running (test_corrupt.py; in the ASan build too).
add_test(NAME corrupt_heaps
  COMMAND ${HG_PYTHON3} ${HG_HEAP}/test_corrupt.py)
set_tests_properties(corrupt_heaps PROPERTIES
  ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_TARGET_DIR=$<TARGET_FILE_DIR:corrupt_target>"
  SKIP_RETURN_CODE 77 TIMEOUT 600)

# Real Debian programs nobody here wrote (scripts/deps.sh installs them):
# heapsnap's figures in GDB and the CLI's (symbols and heuristics) against
# glibc's own mallinfo2(), answered from inside by the LD_PRELOADed
# mallinfo_probe (GDB 13 cannot call functions on CPUs with AMX state).  The ASan build cannot load its
# library into gdb, so there only the CLI checks run.
set(HG_REALWORLD_ENV "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_MI_PROBE=$<TARGET_FILE:mallinfo_probe>")
if(NOT HEAPGRAB_SANITIZE)
  set(HG_REALWORLD_ENV "${HG_REALWORLD_ENV};HEAPGRAB_LIBRARY=$<TARGET_FILE:heapgrab>")
endif()
foreach(program perl python nginx postgres memcached)
  add_test(NAME realworld_${program}
    COMMAND ${HG_PYTHON3} ${HG_HEAP}/test_realworld.py ${program})
  set_tests_properties(realworld_${program} PROPERTIES
    ENVIRONMENT "${HG_REALWORLD_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 600)
endforeach()

# Other glibc versions, in Debian and Ubuntu roots made by
# scripts/make-roots.sh (skipped, exit 77, when there are none).
add_test(NAME glibc_versions
  COMMAND ${HG_PYTHON3} ${HG_HEAP}/test_versions.py)
set_tests_properties(glibc_versions PROPERTIES
  ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>"
  SKIP_RETURN_CODE 77 TIMEOUT 1800)
