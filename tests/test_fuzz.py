"""A schema-based fuzzer (schemathesis) against the running app's OpenAPI spec finds no 5xx."""

import re

import pytest

from .fuzz_api import fuzz

pytestmark = pytest.mark.slow


def test_schemathesis_finds_no_server_error(tmp_path):
    done = fuzz(max_examples=15, workdir=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert counts and int(counts[1]) > 100 and counts[1] == counts[2], done.stdout[-2000:]
