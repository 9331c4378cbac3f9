"""Fuzz targets for wsframework's parsers, and the ``make fuzz`` runner.

Each target is a plain function ``target(data: bytes) -> None`` (see :data:`fuzz.targets.TARGETS`)
that turns ``data`` into a structured input with :class:`fuzz.source.Source`, runs the code under
test and checks its invariants: it raises ``AssertionError`` when an invariant breaks and lets
any unexpected exception through. The same functions run under atheris (``python -m fuzz.run``,
coverage-guided, millions of inputs) and under hypothesis in the short fixed-seed run that
``make test`` includes (``tests/**/test_*_fuzz.py``).
"""
