"""Fixtures of the end-to-end scenarios."""

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from tests.e2e.helm_chart import CHART_DIR
from tests.fakes.kube import KubeAPI, OperatorThread
from tests.operator.conftest import operator_settings


@pytest.fixture(scope="module")
def chart():
    """The h1bot-operator chart, loaded once per module with Helm's Go SDK."""
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@contextlib.contextmanager
def operator_on_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         *objects: dict[str, Any]) -> Iterator[tuple[KubeAPI, Path]]:
    """The emulated API server holding `objects`, its kubeconfig as $KUBECONFIG (as a bot outside a pod reads it),
    and the real kopf operator running against it."""
    with KubeAPI() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        for obj in objects:
            api.apply(obj)
        operator = OperatorThread(kubeconfig, operator_settings()).start()
        try:
            yield api, kubeconfig
        finally:
            operator.stop()
