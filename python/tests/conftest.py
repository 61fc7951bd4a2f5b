import os
import sys

import pytest

# The tests must exercise the installed wheel, not the source tree next to them.
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != SOURCE]


@pytest.fixture(scope="session")
def identity():
    import airswarm

    return airswarm.Identity.generate()
