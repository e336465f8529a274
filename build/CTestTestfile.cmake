# CMake generated Testfile for 
# Source directory: /work/wt-plan
# Build directory: /work/wt-plan/build
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
subdirs("lib")
subdirs("tests")
