"""Build the optional C speedup (payload masking); everything else is in pyproject.toml.

The extension is optional: where it does not compile (no C compiler), the build goes on without
it and wsframework masks in pure Python. ``WSFRAMEWORK_NO_EXTENSIONS=1`` skips it on purpose,
which makes a pure-Python wheel (``py3-none-any``) that installs on any platform.
"""

import os

from setuptools import Extension, setup

skip = os.environ.get("WSFRAMEWORK_NO_EXTENSIONS", "") not in ("", "0")
speedups = Extension("wsframework._speedups", sources=["wsframework/_speedups.c"], optional=True)

setup(ext_modules=[] if skip else [speedups])
