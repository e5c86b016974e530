"""The doc runners assert in helper modules: let pytest explain their failed asserts."""

import pytest

pytest.register_assert_rewrite("tests.docs.runs", "tests.docs.snippet_runs", "tests.docs.sandbox")
