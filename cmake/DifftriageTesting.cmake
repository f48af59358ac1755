# dt_add_test(NAME <name> SOURCES <files...> LIBS <targets...> LABEL unit|slow|torch|cuda)
# One test executable, registered with CTest under one label. Tests run from the source tree
# root so they can find tests/data and ../shared/fixtures.
function(dt_add_test)
  cmake_parse_arguments(T "" "NAME;LABEL" "SOURCES;LIBS" ${ARGN})
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} dt_test_support GTest::gtest GTest::gtest_main
                        difftriage_warnings)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${T_NAME} PROPERTIES LABELS ${T_LABEL}
    ENVIRONMENT "DT_SOURCE_DIR=${PROJECT_SOURCE_DIR};DT_BINARY_DIR=${PROJECT_BINARY_DIR};DT_CLI=$<TARGET_FILE:difftriage>")
endfunction()
