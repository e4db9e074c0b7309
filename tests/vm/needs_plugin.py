"""pytest plugin the matrix loads (`-p needs_plugin`) in every run it collects.

It copies each test's `@pytest.mark.needs(...)` features into the JUnit report as
a `needs` property, so the matrix can say which feature a test waited for on
kernels where it was skipped. It changes no outcome.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    needs = [str(arg) for mark in item.iter_markers("needs") for arg in mark.args]
    if needs:
        item.user_properties.append(("needs", ",".join(sorted(set(needs)))))
