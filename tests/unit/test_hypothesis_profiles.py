"""The Hypothesis profiles of ``tests/conftest.py``: ``make test`` draws the same examples on every
run, ``make chaos`` (``HYPOTHESIS_PROFILE=explore``) draws new ones."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def draws(profile: str) -> list[str]:
    seen: list[str] = []

    @settings(settings.get_profile(profile), max_examples=25, database=None)
    @given(st.text())
    def probe(value: str) -> None:
        seen.append(value)

    probe()
    return seen


def test_the_ci_profile_draws_the_same_examples_every_run():
    assert draws("ci") == draws("ci")


def test_the_explore_profile_draws_new_examples_every_run():
    assert draws("explore") != draws("explore")


def test_the_suite_runs_the_ci_profile_unless_told_otherwise(request):
    chosen = request.config.getoption("--hypothesis-profile", None) or os.environ.get("HYPOTHESIS_PROFILE", "ci")
    if chosen != "ci":
        pytest.skip(f"profile {chosen} chosen for this run")
    assert settings.get_current_profile_name() == "ci"
    assert settings.default.derandomize and settings.default.database is None and settings.default.deadline is None
