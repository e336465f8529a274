find_package(PkgConfig REQUIRED)
pkg_check_modules(HWLOC REQUIRED IMPORTED_TARGET hwloc>=2.0)

# Boost.Asio is header-only; Boost.System is header-only since 1.69.
find_package(Boost 1.69 REQUIRED)

find_package(Threads REQUIRED)

if(SAM_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
