file(REMOVE_RECURSE
  "libsam_static.a"
  "libsam_static.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/sam_static.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
