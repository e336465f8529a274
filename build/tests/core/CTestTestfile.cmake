# CMake generated Testfile for 
# Source directory: /work/main/tests/core
# Build directory: /work/main/build/tests/core
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
include("/work/main/build/tests/core/test_core[1]_include.cmake")
add_test([=[core.exported_symbols]=] "/usr/bin/cmake" "-DLIB=/work/main/build/lib/libsam.so.0.1.0" "-P" "/work/main/tests/core/check_exports.cmake")
set_tests_properties([=[core.exported_symbols]=] PROPERTIES  _BACKTRACE_TRIPLES "/work/main/tests/core/CMakeLists.txt;5;add_test;/work/main/tests/core/CMakeLists.txt;0;")
