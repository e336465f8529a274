file(REMOVE_RECURSE
  "libsam.pdb"
  "libsam.so"
  "libsam.so.0"
  "libsam.so.0.1.0"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/sam.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
