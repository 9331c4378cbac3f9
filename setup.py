"""Build the optional C speedup (payload masking); everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("wsframework._speedups", sources=["wsframework/_speedups.c"], optional=True)
    ]
)
