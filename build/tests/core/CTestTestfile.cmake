# CMake generated Testfile for 
# Source directory: /work/wt-plan/tests/core
# Build directory: /work/wt-plan/build/tests/core
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
include("/work/wt-plan/build/tests/core/test_core[1]_include.cmake")
