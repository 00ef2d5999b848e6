"""Service names as DNS labels: valid for any input, and never one name for two (service, user) pairs."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudfaster.apps.hostnames import app_label, files_label

LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
HOSTILE = [
    "blog", "Blog", "BLOG", "blog-x", "x", "x-y", "y", "files", "files-blog", "a" * 200, "a" * 201, "-", "--", "",
    "xn--bcher-kva", "bücher", "BÜCHER", "blog.", ".blog", "blog_x", "blog x", "blog\x00", "../etc", "😀", "a-", "-a",
    "0", "00", "a" * 28, "a" * 29, "bp27esnddwp3", "bp27esnddwp3-shop",
]  # fmt: skip


def names(service: str, user: str) -> tuple[str, str]:
    return app_label(service, user), files_label(service, user)


def test_plain_names_stay_readable() -> None:
    assert names("blog", "alice") == ("blog-alice", "files-blog-alice")


@pytest.mark.parametrize(("service", "user"), list(itertools.product(HOSTILE, HOSTILE)))
def test_every_name_is_a_dns_label(service: str, user: str) -> None:
    for label in names(service, user):
        assert LABEL.fullmatch(label), (service, user, label)
        assert "--" not in label[:4]


def test_hostile_pairs_never_share_a_name() -> None:
    seen: dict[str, tuple[str, str]] = {}
    for pair in itertools.product(HOSTILE, HOSTILE):
        for label in names(*pair):
            assert seen.setdefault(label, pair) == pair, (label, seen[label], pair)


@given(st.text(max_size=80), st.text(max_size=80), st.text(max_size=80), st.text(max_size=80))
def test_different_pairs_get_different_names(s1: str, u1: str, s2: str, u2: str) -> None:
    if (s1, u1) != (s2, u2):
        assert not set(names(s1, u1)) & set(names(s2, u2))
    assert all(LABEL.fullmatch(label) for label in names(s1, u1))
