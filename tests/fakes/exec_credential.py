"""A kubeconfig exec credential plugin for tests, run as kubectl and h1bot run gke-gcloud-auth-plugin.

    python tests/fakes/exec_credential.py --token-file PATH [--expires-in SECONDS] [--api-version V] [--log PATH]

Prints an ExecCredential with the token currently in PATH (so a test rotates it by rewriting the file) and, with
--expires-in, an expirationTimestamp that many seconds from now (a file `TOKEN EXPIRY`, RFC 3339, sets it instead).
Like a real plugin it refuses to run without the KUBERNETES_EXEC_INFO its caller must set, and answers in the
apiVersion asked for. --log appends a line per run (the token, its expiry, what KUBERNETES_EXEC_INFO said, and
AWS_PROFILE, which EKS kubeconfigs set in `exec.env`).
`exec_user()` builds the kubeconfig `user` entry that runs it with the current interpreter.
"""

import argparse
import datetime
import json
import os
import sys
from pathlib import Path
from typing import Any

V1 = "client.authentication.k8s.io/v1"


def exec_user(token_file: Path, expires_in: float | None = None, api_version: str = V1,
              log: Path | None = None, **extra: Any) -> dict[str, Any]:
    """A kubeconfig `user` whose credential comes from this plugin."""
    args = [__file__, "--token-file", str(token_file), "--api-version", api_version]
    if expires_in is not None:
        args += ["--expires-in", str(expires_in)]
    if log is not None:
        args += ["--log", str(log)]
    return {"exec": {"apiVersion": api_version, "command": sys.executable, "args": args,
                     "interactiveMode": "Never", **extra}}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token-file", required=True, type=Path)
    parser.add_argument("--expires-in", type=float)
    parser.add_argument("--api-version", default=V1)
    parser.add_argument("--log", type=Path)
    args = parser.parse_args()
    info = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "null")
    if not info or info.get("kind") != "ExecCredential" or info.get("apiVersion") != args.api_version:
        print(f"KUBERNETES_EXEC_INFO is missing or not an ExecCredential of {args.api_version}", file=sys.stderr)
        return 1
    token, _, expiry_text = args.token_file.read_text().strip().partition(" ")
    status: dict[str, Any] = {"token": token}
    if expiry_text:
        status["expirationTimestamp"] = expiry_text.strip()
    elif args.expires_in is not None:
        expiry = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=args.expires_in)
        status["expirationTimestamp"] = expiry.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if args.log is not None:
        with args.log.open("a") as log:
            log.write(json.dumps({"token": status["token"], "expires": status.get("expirationTimestamp"),
                                  "interactive": info["spec"].get("interactive"),
                                  "cluster": info["spec"].get("cluster"),
                                  "AWS_PROFILE": os.environ.get("AWS_PROFILE")}) + "\n")
    print(json.dumps({"apiVersion": args.api_version, "kind": "ExecCredential", "status": status}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
