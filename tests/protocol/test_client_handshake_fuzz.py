"""Short fixed-seed fuzzing of the client's handshake (fuzz/handshake_targets.py)."""

from __future__ import annotations

from fuzz.handshake_targets import client_handshake

from ..fuzz_helpers import short_run

test_client_handshake_invariants_hold_for_fuzzed_answers = short_run(client_handshake, 1000)
