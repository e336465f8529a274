# CMake generated Testfile for 
# Source directory: /work/main/tests/core
# Build directory: /work/main/build/tests/core
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
include("/work/main/build/tests/core/test_core[1]_include.cmake")
