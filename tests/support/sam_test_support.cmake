# The multi-process test harness (tests/support/multiproc.h). Include this
# file from any tests/<layer>/CMakeLists.txt; it defines sam_test_support once.
if(NOT TARGET sam_test_support)
  add_library(sam_test_support STATIC
    ${CMAKE_CURRENT_LIST_DIR}/multiproc.cc
    ${CMAKE_CURRENT_LIST_DIR}/rank_main.cc)
  target_include_directories(sam_test_support PUBLIC ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(sam_test_support PUBLIC sam_static)
endif()
