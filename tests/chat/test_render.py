"""What the terminal shows of Slack's mrkdwn: the same reply a Slack user reads, as Markdown."""

from h1bot_bot.adapters.terminal.render import mrkdwn_to_markdown


def test_slack_emoji_codes_show_as_emoji_outside_code_and_stay_as_typed_inside_it():
    shown = mrkdwn_to_markdown(":white_check_mark: *Temperature* is now `0.1` :warning: (`:x:` stays) :no-such-code:")
    assert shown == "\u2705 **Temperature** is now `0.1` \u26a0 (`:x:` stays) :no-such-code:"
