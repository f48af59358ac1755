# ctest -R python_install: `cmake --install` of this build into a scratch prefix, then Debian's
# Python imports difftriage from <prefix>/DIFFTRIAGE_PYTHON_INSTALL_DIR (no build tree on its
# path) and uses it; and that folder under the configured prefix is on that Python's sys.path.
# Variables: BUILD_DIR, WORK_DIR (scratch), PYTHON, PY_DIR (relative install folder),
# CONFIGURED_PREFIX (CMAKE_INSTALL_PREFIX of the build).
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
function(run_step)
  # from WORK_DIR: python -c puts the working directory first on sys.path, and the build
  # tree's python/ folder (where CTest starts) holds a difftriage package too
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()
run_step(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
set(site ${WORK_DIR}/prefix/${PY_DIR})
run_step(${CMAKE_COMMAND} -E env --unset=PYTHONPATH PYTHONPATH=${site} ${PYTHON} -c
"import difftriage, os, numpy as np
assert os.path.realpath(difftriage.__file__).startswith(os.path.realpath('${site}')), difftriage.__file__
assert os.path.exists(os.path.join(os.path.dirname(difftriage.__file__), '__init__.pyi'))
frames, labels, truth = difftriage.simulate(2, 7, output_size=64, full_size=128)
assert frames.shape == (2, 64, 64) and len(labels) == 2
rows = difftriage.Classifier.load(os.path.join('${WORK_DIR}', 'prefix', 'share', 'difftriage', 'models', 'default')).classify(frames)
assert [r['frame'] for r in rows] == [0, 1]
print('imported', difftriage.__file__, difftriage.__version__)")
message(STATUS "${step_output}")
run_step(${PYTHON} -c "import sys; d = '${CONFIGURED_PREFIX}/${PY_DIR}'; print(d, 'on sys.path:', d in sys.path); sys.exit(0 if d in sys.path else 1)")
message(STATUS "${step_output}")
