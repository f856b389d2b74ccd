"""`h1bot-operator`: run the kopf operator with settings from the environment and the command line."""

import logging
import os
import sys
from collections.abc import Sequence

import kopf

from h1bot_kube import KubeConfigError, load_credentials
from h1bot_operator.logs import use_cloud_json
from h1bot_operator.settings import OperatorSettings, parse_args


def run(settings: OperatorSettings) -> int:
    import h1bot_operator.handlers  # noqa: F401  (registers the handlers)

    try:  # before kopf starts: no credentials is one clear line, not a failed startup handler's traceback
        credentials = load_credentials(settings.kubeconfig, settings.context)
    except KubeConfigError as exc:
        print(f"h1bot-operator: {exc}", file=sys.stderr)
        return 1
    logging.getLogger(__name__).info("Kubernetes API %s, credentials from %s", credentials.server,
                                     credentials.description)
    kopf.run(
        clusterwide=settings.clusterwide,
        namespaces=settings.namespaces,
        standalone=not settings.peering,
        peering_name=settings.peering or None,
        liveness_endpoint=settings.liveness_endpoint or None,
        memo=kopf.Memo(config=settings, credentials=credentials),
    )
    return 0


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
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
