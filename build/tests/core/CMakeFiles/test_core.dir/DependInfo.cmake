
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/wt-plan/tests/core/test_errors.cc" "tests/core/CMakeFiles/test_core.dir/test_errors.cc.o" "gcc" "tests/core/CMakeFiles/test_core.dir/test_errors.cc.o.d"
  "/work/wt-plan/tests/core/test_log.cc" "tests/core/CMakeFiles/test_core.dir/test_log.cc.o" "gcc" "tests/core/CMakeFiles/test_core.dir/test_log.cc.o.d"
  "/work/wt-plan/tests/core/test_params.cc" "tests/core/CMakeFiles/test_core.dir/test_params.cc.o" "gcc" "tests/core/CMakeFiles/test_core.dir/test_params.cc.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/wt-plan/build/lib/CMakeFiles/sam_static.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
