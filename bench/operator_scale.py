"""Benchmark: 200 SlackBots (and their Secrets) created against the API emulator with the operator running.

Reports the seconds until all 200 bot Deployments exist and the operator's peak RSS (the operator runs as its own
process, `h1bot-operator -A`, so the RSS is its own). Targets: <= 30 s and <= 120 MB.

    .venv/bin/python bench/operator_scale.py [--bots 200]
"""

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.kube import KubeAPI, OperatorProcess
from tests.operator.conftest import secret, slackbot

TARGET_SECONDS, TARGET_MB = 30.0, 120.0


class PeakRSS(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process, self.peak, self.done = psutil.Process(pid), 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            self.done.wait(0.05)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=200)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="h1bot-bench-"))
    with KubeAPI() as api:
        kubeconfig = api.write_kubeconfig(workdir / "kubeconfig")
        with OperatorProcess(kubeconfig, args=("-A",), env={"H1BOT_BOT_IMAGE": "registry.test/bot:bench"}) as op:
            assert op.process is not None
            rss = PeakRSS(op.process.pid)
            rss.start()
            idle_mb = psutil.Process(op.process.pid).memory_info().rss / 2**20
            names = [f"bench-{i:03d}" for i in range(args.bots)]
            started = time.monotonic()

            def create(name: str) -> None:
                api.apply(secret(f"{name}-creds"))
                api.apply(slackbot(name, f"{name}-creds"))
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(create, names))
            created = time.monotonic() - started
            while api.count("apps/v1/deployments", "default") < args.bots:
                if time.monotonic() - started > 300:
                    print(f"gave up: {api.count('apps/v1/deployments', 'default')} Deployments", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            elapsed = time.monotonic() - started
            time.sleep(2)  # let trailing events settle for the RSS peak
            rss.done.set()
            rss.join()
            peak_mb = rss.peak / 2**20
    print(f"SlackBots: {args.bots} (all created via the API in {created:.1f} s)")
    print(f"all {args.bots} Deployments exist after: {elapsed:.1f} s (target <= {TARGET_SECONDS:.0f} s)")
    print(f"operator RSS: idle {idle_mb:.0f} MB, peak {peak_mb:.0f} MB (target <= {TARGET_MB:.0f} MB)")
    return 0 if elapsed <= TARGET_SECONDS and peak_mb <= TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
