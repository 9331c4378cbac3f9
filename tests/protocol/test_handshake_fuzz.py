"""Short fixed-seed fuzzing of the server's handshake parser (fuzz/handshake_targets.py)."""

from __future__ import annotations

from fuzz.handshake_targets import server_handshake

from ..fuzz_helpers import short_run

test_server_handshake_invariants_hold_for_fuzzed_requests = short_run(server_handshake, 1500)
