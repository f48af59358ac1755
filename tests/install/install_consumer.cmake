# ctest -R install_consumer: installs this build into a scratch prefix, then configures, builds
# and runs tests/install/consumer against it with nothing but find_package(difftriage).
# Variables: BUILD_DIR (this build), SOURCE_DIR (tests/install/consumer), WORK_DIR (scratch).
file(REMOVE_RECURSE ${WORK_DIR})
function(run_step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()
run_step(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
run_step(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -DCMAKE_BUILD_TYPE=Release
         -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
run_step(${CMAKE_COMMAND} --build ${WORK_DIR}/build -j2)
run_step(${WORK_DIR}/build/consumer_core ${WORK_DIR})
message(STATUS "consumer_core: ${step_output}")
run_step(${WORK_DIR}/build/consumer_ml)
message(STATUS "consumer_ml: ${step_output}")
