# heapgrab report and the HTML outputs of snapshot and profile (issue 21).
#
#   report_pages    test_report.py: live gt_target and stack_target pages
#                   against stats --json and go tool pprof -top (that part
#                   skipped without go), the holders view (write_synthetic),
#                   --base, escaping, the size of a 100,000-sample page,
#                   refusals; the pages stay in
#                   report-out/ for report_browser
#   report_browser  test_browser.py: those pages in headless chromium (skip:
#                   no chromium): drawn, no console message, no request but
#                   the page itself, the summary and top rows in the DOM;
#                   screenshots kept in report-out/*.png
set(RP_DIR ${HG_TESTS}/report)
set(RP_OUT ${CMAKE_CURRENT_BINARY_DIR}/report-out)
# the page of a snapshot with holders (the synthetic one of holders_outputs)
add_executable(write_synthetic ${RP_DIR}/write_synthetic.c
  ${HG_TESTS}/holders_outputs/synthetic.c)
target_link_libraries(write_synthetic PRIVATE heapgrab_static)
target_include_directories(write_synthetic PRIVATE
  ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/writers)
add_test(NAME report_pages
  COMMAND ${HG_PYTHON3} ${RP_DIR}/test_report.py ${RP_OUT})
set_tests_properties(report_pages PROPERTIES
  ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_TARGET_DIR=$<TARGET_FILE_DIR:gt_target>;HG_WRITE_SYNTHETIC=$<TARGET_FILE:write_synthetic>"
  FIXTURES_SETUP report_pages SKIP_RETURN_CODE 77 TIMEOUT 300)
add_test(NAME report_browser
  COMMAND ${HG_PYTHON3} ${RP_DIR}/test_browser.py ${RP_OUT})
set_tests_properties(report_browser PROPERTIES
  FIXTURES_REQUIRED report_pages SKIP_RETURN_CODE 77 TIMEOUT 300)
