"""The SlackBot API shared by the operator and the bot: names, spec model, status layout, model table.

Pure data and validation, no I/O. Both processes import from here so each fact lives in one place.
"""

GROUP = "chatops.h1bot.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "SlackBot"
PLURAL = "slackbots"
SINGULAR = "slackbot"
SHORT_NAME = "sb"
CRD_NAME = f"{PLURAL}.{GROUP}"

__all__ = ["API_VERSION", "CRD_NAME", "GROUP", "KIND", "PLURAL", "SHORT_NAME", "SINGULAR", "VERSION"]
