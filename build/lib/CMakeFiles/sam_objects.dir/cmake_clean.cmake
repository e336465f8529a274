file(REMOVE_RECURSE
  "CMakeFiles/sam_objects.dir/core/error.cc.o"
  "CMakeFiles/sam_objects.dir/core/error.cc.o.d"
  "CMakeFiles/sam_objects.dir/core/log.cc.o"
  "CMakeFiles/sam_objects.dir/core/log.cc.o.d"
  "CMakeFiles/sam_objects.dir/core/params.cc.o"
  "CMakeFiles/sam_objects.dir/core/params.cc.o.d"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/sam_objects.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
