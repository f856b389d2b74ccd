"""`h1bot-bot`: run the bot from a SlackBot manifest (`--spec`) or from its SlackBot in the cluster.

SIGTERM/SIGINT: stop taking events, finish replies in flight (bounded), exit 0.
"""

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from h1bot_bot.app import run_bot
from h1bot_bot.config import SettingsError, load_settings, parse_args
from h1bot_bot.logs import setup_logging

log = logging.getLogger("h1bot_bot")


async def _main(settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return await run_bot(settings, stop)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(args=args)
    except SettingsError as exc:
        setup_logging()
        log.error("cannot start: %s", exc)
        return 2
    setup_logging(settings.log_format, settings.log_level)
    return asyncio.run(_main(settings))


if __name__ == "__main__":
    sys.exit(main())
