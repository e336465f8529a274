# find_package(sam CONFIG) -> sam::sam (shared) and sam::sam_static; sam.pc.
include(CMakePackageConfigHelpers)

install(FILES include/sam.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS sam sam_static EXPORT samTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT samTargets NAMESPACE sam:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sam)

configure_package_config_file(cmake/samConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/samConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sam)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/samConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/samConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/samConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/sam)

set(SAM_PC_REQUIRES_PRIVATE "hwloc")
if(SAM_HAVE_UCX)
  string(APPEND SAM_PC_REQUIRES_PRIVATE " ucx")
endif()
# sam.pc finds its prefix relative to itself, so an installed tree can move.
file(RELATIVE_PATH SAM_PC_TO_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(cmake/sam.pc.in ${CMAKE_CURRENT_BINARY_DIR}/sam.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/sam.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
