"""Request ids: 32 hex digits, never the same twice, in this process or a forked one."""

from __future__ import annotations

import os
import re

from cloudfaster.api.middleware import RequestIds, request_ids


def test_ids_are_32_hex_digits_and_never_repeat() -> None:
    ids = RequestIds()
    drawn = [ids.new() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", one) for one in drawn)
    assert len(set(drawn)) == len(drawn)
    assert ids.new()[:16] != RequestIds().new()[:16]  # another process (or instance) has another prefix


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    before = request_ids.new()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, request_ids.new().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    after = request_ids.new()
    assert len(child) == 32
    assert child[:16] != before[:16]
    assert after[:16] == before[:16]
    assert child not in (before, after)
