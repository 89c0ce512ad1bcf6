# Installed as a user installs it: the .deb into a fresh Debian 12 root
# (debootstrap, kept under /var/tmp), pip install ./python into a venv, the
# bash completion.  Not in the sanitizer build: the package is built by
# scripts/package.sh, the same for both.
if(NOT HEAPGRAB_SANITIZE)
  find_program(HG_PKG_PYTHON3 python3 REQUIRED)
  add_test(NAME install_deb
    COMMAND ${HG_PKG_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/packaging/test_deb.py)
  set_tests_properties(install_deb PROPERTIES
    ENVIRONMENT "HEAPGRAB=$<TARGET_FILE:heapgrab_cli>;HG_DEMO=$<TARGET_FILE:demo>;HG_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    SKIP_RETURN_CODE 77 TIMEOUT 1200 RUN_SERIAL TRUE)
  add_test(NAME install_bash_completion
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/packaging/test_completion.sh ${PROJECT_SOURCE_DIR}
            $<TARGET_FILE_DIR:heapgrab_cli>)
  set_tests_properties(install_bash_completion PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60)
endif()
