"""Run Autobahn's ``wstest`` with its listening sockets bound to 127.0.0.1 only.

wstest's fuzzingserver mode calls ``listenWS(factory, ...)`` with the default interface ''
(all interfaces). This wrapper (Python 2.7, run with ``.venv27/bin/python``) rebinds it to
loopback and then hands over to wstest's normal command-line entry point, so it takes exactly
the same arguments as ``wstest``::

    .venv27/bin/python conformance/wstest_loopback.py -m fuzzingserver -s spec.json -u 0

It also has one extra mode used by run.py to know which case ids a spec selects::

    .venv27/bin/python conformance/wstest_loopback.py --list-cases spec.json
"""

import sys

from autobahntestsuite import fuzzing
from autobahntestsuite.wstest import run

_listen_ws = fuzzing.listenWS


def _listen_ws_loopback(factory, contextFactory=None, backlog=50, interface="127.0.0.1"):
    return _listen_ws(factory, contextFactory, backlog=backlog, interface=interface)


fuzzing.listenWS = _listen_ws_loopback


def list_cases(spec_path):
    import json

    with open(spec_path) as f:
        spec = json.load(f)
    case_set = fuzzing.CaseSet(
        fuzzing.CaseSetname,
        fuzzing.CaseBasename,
        fuzzing.Cases,
        fuzzing.CaseCategories,
        fuzzing.CaseSubCategories,
    )
    for case_id in case_set.parseSpecCases(spec):
        print(case_id)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--list-cases":
        list_cases(sys.argv[2])
        sys.exit(0)
    sys.argv[0] = "wstest"
    sys.exit(run())
