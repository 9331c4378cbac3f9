"""Short fixed-seed fuzzing of templates, url_path_for and matching (fuzz/routing_targets.py)."""

from __future__ import annotations

from fuzz.routing_targets import routing

from .fuzz_helpers import short_run

test_routing_invariants_hold_for_fuzzed_templates_and_paths = short_run(routing, 1200)
