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
# Only Secrets carrying this label set to "true" may be referenced by a SlackBot (unless the operator relaxes it).
CREDENTIALS_LABEL = f"{GROUP}/credentials"

__all__ = ["API_VERSION", "CRD_NAME", "CREDENTIALS_LABEL", "GROUP", "KIND", "PLURAL", "SHORT_NAME", "SINGULAR",
           "VERSION"]
