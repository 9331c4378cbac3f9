"""Data frame headers: every length encoding, both opcodes, the mask bit."""

from __future__ import annotations

import pytest
from wsproto.frame_protocol import FrameProtocol, Opcode

from wsframework.protocol.header import frame_header


@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536])
@pytest.mark.parametrize("text", [True, False])
def test_header_frames_a_payload_wsproto_parses(length: int, text: bool) -> None:
    parser = FrameProtocol(client=True, extensions=[])
    parser.receive_bytes(frame_header(length, text, False) + b"a" * length)
    frame = next(iter(parser.received_frames()))
    assert frame.opcode is (Opcode.TEXT if text else Opcode.BINARY)
    assert len(frame.payload) == length and frame.frame_finished and frame.message_finished


def test_mask_sets_only_the_mask_bit() -> None:
    assert frame_header(5, True, True) == bytes((0x81, 0x85))
    assert frame_header(70000, False, True)[:2] == bytes((0x82, 0xFF))
