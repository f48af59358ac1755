#!/usr/bin/env python3
"""CTest entry of the Python module's tests (python/tests): runs pytest on this folder.

Exit 77 (CTest: Skipped, as the GoogleTest executables do) when NumPy or pytest is missing, or
when a test skipped and none failed; 1 when a test failed; 0 when every test passed.
PYTHONPATH must hold the build tree's python/ folder (CTest sets it).
"""
import os
import sys

try:
    import numpy  # noqa: F401
    import pytest
except ImportError as e:
    print(f"python_test skipped: {e} (Debian: apt-get install python3-numpy python3-pytest)")
    sys.exit(77)


class _Outcomes:
    def __init__(self):
        self.skipped = []

    def pytest_runtest_logreport(self, report):
        if report.skipped:
            self.skipped.append(report.nodeid)


outcomes = _Outcomes()
here = os.path.dirname(os.path.abspath(__file__))
rc = pytest.main(["-q", "-rs", "-p", "no:cacheprovider", here] + sys.argv[1:], plugins=[outcomes])
if rc == 0 and outcomes.skipped:
    print(f"python_test: {len(outcomes.skipped)} test(s) skipped (see above): reported as Skipped")
    sys.exit(77)
sys.exit(int(rc))
