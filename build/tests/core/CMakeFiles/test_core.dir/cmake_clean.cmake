file(REMOVE_RECURSE
  "CMakeFiles/test_core.dir/c_header_check.c.o"
  "CMakeFiles/test_core.dir/c_header_check.c.o.d"
  "CMakeFiles/test_core.dir/test_c_header.cc.o"
  "CMakeFiles/test_core.dir/test_c_header.cc.o.d"
  "CMakeFiles/test_core.dir/test_errors.cc.o"
  "CMakeFiles/test_core.dir/test_errors.cc.o.d"
  "CMakeFiles/test_core.dir/test_log.cc.o"
  "CMakeFiles/test_core.dir/test_log.cc.o.d"
  "CMakeFiles/test_core.dir/test_params.cc.o"
  "CMakeFiles/test_core.dir/test_params.cc.o.d"
  "test_core"
  "test_core.pdb"
  "test_core[1]_tests.cmake"
)

# Per-language clean rules from dependency scanning.
foreach(lang C CXX)
  include(CMakeFiles/test_core.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
