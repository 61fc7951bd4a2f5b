import os
import re
import subprocess
import sys

import airswarm

HERE = os.path.dirname(os.path.abspath(__file__))
PY = os.path.dirname(HERE)
ROOT = os.path.dirname(PY)


def test_imports_from_the_installed_wheel():
    assert "site-packages" in airswarm.__file__
    assert os.path.exists(os.path.join(os.path.dirname(airswarm.__file__), "py.typed"))


def test_version_matches_crate_and_pyproject():
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        crate = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    with open(os.path.join(PY, "pyproject.toml")) as f:
        project = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    assert airswarm.__version__ == crate == project == "0.1.0"


def test_exception_hierarchy():
    for exc in [airswarm.ConfigError, airswarm.DecodeError, airswarm.CryptoError, airswarm.MeshError]:
        assert issubclass(exc, airswarm.AirswarmError)
    assert issubclass(airswarm.TorrentError, airswarm.DecodeError)
    assert issubclass(airswarm.AirswarmError, Exception)
    assert airswarm.DecodeError("x").offset is None


def test_readme_example_runs():
    # The first Python example of the README's Python section.
    with open(os.path.join(PY, "..", "README.md")) as f:
        text = f.read()
    section = text[text.index("## Python") :]
    example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(example.strip().splitlines()) <= 12
    out = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, check=True).stdout
    assert "ms on air" in out
    ratios = [float(m) for m in re.findall(r"delivery ([0-9.]+)%", out)]
    assert len(ratios) == 3 and all(0 < r <= 100 for r in ratios)


def test_stub_matches_native_module(tmp_path):
    # Run outside the source tree so mypy sees only the installed package (and its
    # submodules: _native via _native.pyi, bencode, torrent).
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "airswarm"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
