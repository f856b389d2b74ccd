"""Where the project's files are, for tests that read them as a user's tools would."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CRD_PATH = REPO / "crds" / "slackbots.chatops.h1bot.dev.yaml"
EXAMPLES = REPO / "examples"
