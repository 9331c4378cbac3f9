"""Short fixed-seed fuzzing of the frame and message engine, both roles (fuzz/engine_targets.py)."""

from __future__ import annotations

from fuzz.engine_targets import engine_client, engine_server

from ..fuzz_helpers import short_run

test_server_engine_invariants_hold_for_fuzzed_streams = short_run(engine_server, 1000)
test_client_engine_invariants_hold_for_fuzzed_streams = short_run(engine_client, 1000)
