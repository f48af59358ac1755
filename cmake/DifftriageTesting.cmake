# dt_add_test(NAME <name> SOURCES <files...> LIBS <targets...> LABEL unit|slow|torch|cuda
#             [TIMEOUT <seconds>] [ARGS <test arguments...>])
# One test executable, registered with CTest under one label. Tests run from the source tree
# root so they can find tests/data and ../shared/fixtures. The executable's main()
# (tests/support/gtest_main.cpp) exits with 77 when tests were skipped and none failed, which
# CTest reports as "Skipped" instead of a pass. Every test has a TIMEOUT (default 600 s), so a
# test that hangs fails instead of waiting for CTest's 1500 s default.
# dt_test_optimization(<target>): test code (not the libraries it tests) is compiled at -O1 in
# Release builds (its templates, GoogleTest and the test bodies, compile ~30 % faster than at
# -O3) and at -O0 under the sanitizers (~35 % faster than -O1 there), which keeps CI's clean
# build within its budget; the code under test keeps its own optimisation.
function(dt_test_optimization target)
  if(DIFFTRIAGE_SANITIZE)
    target_compile_options(${target} PRIVATE -O0)
  else()
    target_compile_options(${target} PRIVATE $<$<CONFIG:Release>:-O1>)
  endif()
endfunction()

function(dt_add_test)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS;ARGS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} dt_test_support dt_gtest_main GTest::gtest
                        difftriage_warnings)
  dt_test_optimization(${T_NAME})
  dt_add_test_run(NAME ${T_NAME} EXECUTABLE ${T_NAME} LABEL "${T_LABEL}" TIMEOUT "${T_TIMEOUT}"
                  ARGS ${T_ARGS})
endfunction()

# dt_add_test_run(NAME <ctest name> EXECUTABLE <target> LABEL <label> [TIMEOUT <s>]
#                 [ARGS <arguments...>]): one more CTest test from an existing test executable,
# e.g. the tests that need a GPU, filtered out of the executable's main run (label cuda).
function(dt_add_test_run)
  cmake_parse_arguments(T "" "NAME;EXECUTABLE;LABEL;TIMEOUT" "ARGS" ${ARGN})
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  add_test(NAME ${T_NAME} COMMAND ${T_EXECUTABLE} ${T_ARGS}
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${T_NAME} PROPERTIES LABELS ${T_LABEL} SKIP_RETURN_CODE 77
    TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "DT_SOURCE_DIR=${PROJECT_SOURCE_DIR};DT_BINARY_DIR=${PROJECT_BINARY_DIR};DT_CLI=$<TARGET_FILE:difftriage>")
endfunction()
