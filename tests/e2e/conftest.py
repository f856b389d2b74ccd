"""Fixtures of the end-to-end scenarios."""

import helm_python as helm
import pytest

from tests.e2e.helm_chart import CHART_DIR


@pytest.fixture(scope="module")
def chart():
    """The h1bot-operator chart, loaded once per module with Helm's Go SDK."""
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded
