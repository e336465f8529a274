#----------------------------------------------------------------
# Generated CMake target import file for configuration "RelWithDebInfo".
#----------------------------------------------------------------

# Commands may need to know the format version.
set(CMAKE_IMPORT_FILE_VERSION 1)

# Import target "sam::sam" for configuration "RelWithDebInfo"
set_property(TARGET sam::sam APPEND PROPERTY IMPORTED_CONFIGURATIONS RELWITHDEBINFO)
set_target_properties(sam::sam PROPERTIES
  IMPORTED_LOCATION_RELWITHDEBINFO "${_IMPORT_PREFIX}/lib/libsam.so.0.1.0"
  IMPORTED_SONAME_RELWITHDEBINFO "libsam.so.0"
  )

list(APPEND _cmake_import_check_targets sam::sam )
list(APPEND _cmake_import_check_files_for_sam::sam "${_IMPORT_PREFIX}/lib/libsam.so.0.1.0" )

# Import target "sam::sam_static" for configuration "RelWithDebInfo"
set_property(TARGET sam::sam_static APPEND PROPERTY IMPORTED_CONFIGURATIONS RELWITHDEBINFO)
set_target_properties(sam::sam_static PROPERTIES
  IMPORTED_LINK_INTERFACE_LANGUAGES_RELWITHDEBINFO "CXX"
  IMPORTED_LOCATION_RELWITHDEBINFO "${_IMPORT_PREFIX}/lib/libsam_static.a"
  )

list(APPEND _cmake_import_check_targets sam::sam_static )
list(APPEND _cmake_import_check_files_for_sam::sam_static "${_IMPORT_PREFIX}/lib/libsam_static.a" )

# Commands beyond this point should not need to know the version.
set(CMAKE_IMPORT_FILE_VERSION)
