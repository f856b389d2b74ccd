"""`h1bot-operator`: run the kopf operator with settings from the environment and the command line."""

import logging
import os
import sys
from collections.abc import Sequence

import kopf

from h1bot_operator.logs import use_cloud_json
from h1bot_operator.settings import OperatorSettings, parse_args


def run(settings: OperatorSettings) -> None:
    import h1bot_operator.handlers  # noqa: F401  (registers the handlers)

    kopf.run(
        clusterwide=settings.clusterwide,
        namespaces=settings.namespaces,
        standalone=not settings.peering,
        peering_name=settings.peering or None,
        liveness_endpoint=settings.liveness_endpoint or None,
        memo=kopf.Memo(config=settings),
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = parse_args(argv, os.environ)
    except ValueError as exc:
        print(f"h1bot-operator: {exc}", file=sys.stderr)
        return 2
    kopf.configure(
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
        verbose=os.environ.get("LOG_LEVEL", "").upper() == "DEBUG",
    )
    if settings.log_format == "json":
        use_cloud_json()
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
