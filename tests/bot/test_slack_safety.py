"""Properties of what the bot shows from outside: no mention notifies unless allowed, links show their host, keys
and tokens never show, ordinary text and code are left as they were."""

import html
import re

from hypothesis import example, given
from hypothesis import strategies as st

from h1bot_bot.core.formatting import to_mrkdwn
from h1bot_bot.core.slack_safety import (
    REDACTED,
    ZWJ,
    link_host,
    outside_text,
    redact,
    safe_markdown,
    safe_mrkdwn,
    stable_length,
)

TRIGGER = re.compile(r"<[!@#]")  # Slack acts on <!channel>, <!here>, <!subteam^…>, <@U…>, <#C…>
SLACK_TOKEN = re.compile(r"<([^<>\n]*)>")

markup = st.sampled_from(["<!channel>", "<!here>", "<!everyone>", "<!here|here>", "<!subteam^S0123|@oncall>",
                          "<@U0ALICE>", "<@W0BOB|bob>", "<#C0GENERAL|general>", "<!date^1392734382^{date}|x>",
                          "<https://evil.example|sso.company.com>", "<https://ok.example>",
                          "<mailto:a@b.example|support>", "[sso.company.com](https://evil.example/login)",
                          "<", ">", "|", "&", "`", "```", "\n", " ", "<!", "<@", "@channel"])
texts = st.lists(st.one_of(markup, st.text(max_size=8)), max_size=25).map("".join)
plain = st.text(alphabet=st.characters(blacklist_characters="<&", blacklist_categories=("Cs",)), max_size=200)


def links(text: str) -> list[str]:
    return [m.group(1) for m in SLACK_TOKEN.finditer(text)]


@given(texts)
@example("<!channel> and <!here>, ask <!subteam^S1|@ops> or <@U1>")
def test_nothing_in_mrkdwn_notifies_and_every_remaining_token_is_a_link(text):
    shown = safe_mrkdwn(text)
    assert not TRIGGER.search(shown)
    for inner in links(shown):
        assert re.match(r"(?i)(https?://|mailto:)", inner), inner


@given(texts)
def test_user_mentions_notify_only_when_allowed(text):
    shown = safe_mrkdwn(text, allow_user_mentions=True)
    for found in TRIGGER.finditer(shown):
        assert re.match(r"<@[UW][A-Z0-9]+(\|[^|<>]*)?>", shown[found.start():]), shown
    assert "<!" not in shown and "<#" not in shown


@given(texts)
def test_markdown_answers_converted_to_mrkdwn_never_notify(text):
    assert not TRIGGER.search(to_mrkdwn(text))


@given(texts)
def test_standard_markdown_never_notifies(text):
    assert not TRIGGER.search(safe_markdown(text))


@given(plain)
def test_text_without_markup_is_left_as_written(text):
    assert safe_mrkdwn(text) == text
    assert safe_markdown(text.replace("[", "(")) == text.replace("[", "(")


@given(st.text(alphabet=st.characters(blacklist_characters="&|", blacklist_categories=("Cs",)), max_size=200))
def test_code_with_angle_brackets_reads_the_same_in_slack(code):
    """Slack decodes &lt; &gt; everywhere, code blocks included: what a reader sees is what the model wrote."""
    block = f"```\n{code}\n```"
    shown = safe_mrkdwn(block)
    assert html.unescape(shown) == block or any(re.match(r"(?i)https?://|mailto:", t) for t in links(code))


@given(st.sampled_from(["sso.company.com", "login", "https://sso.company.com", "click here"]),
       st.sampled_from(["https://evil.example/x", "http://10.0.0.1:8080/", "https://evil.example"]))
def test_a_labelled_link_shows_its_real_host(label, url):
    host = re.match(r"https?://([^/:]+)", url).group(1)
    for shown in (safe_mrkdwn(f"see <{url}|{label}>"), to_mrkdwn(f"see [{label}]({url})")):
        assert re.fullmatch(rf"see <{re.escape(url)}\|[^<>]*\({re.escape(host)}\)>", shown), shown
    assert f"({host})]({url})" in safe_markdown(f"see [{label}]({url})")


@given(texts, st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_streamed_markdown_made_safe_piece_by_piece_never_notifies(text, cuts):
    """How native streaming sends the answer: the stable part of what arrived, made safe, then the rest at the end."""
    raw, taken, sent = "", 0, []
    points = [*sorted({min(c, len(text)) for c in cuts}), len(text)]
    start = 0
    for point in points:
        raw += text[start:point]
        start = point
        end = stable_length(raw)
        if end > taken:
            sent.append(safe_markdown(raw[taken:end]))
            taken = end
    sent.append(safe_markdown(raw[taken:]))
    assert not TRIGGER.search("".join(sent))
    assert "".join(sent).replace(ZWJ, "") == safe_markdown(text).replace(ZWJ, "") or "[" in text or "<" in text


keys = st.one_of(
    st.from_regex(r"sk-proj-[A-Za-z0-9_-]{20,40}", fullmatch=True),
    st.from_regex(r"sk-[A-Za-z0-9]{20,48}", fullmatch=True),
    st.from_regex(r"xox[abposr]-[0-9]{6,12}-[A-Za-z0-9]{8,24}", fullmatch=True),
    st.from_regex(r"xapp-1-[A-Z0-9]{6,11}-[0-9]{6,13}-[a-f0-9]{16,64}", fullmatch=True))
framing = st.sampled_from(["{}", "Bearer {}", "Authorization: Bearer {}", "authorization={}", "api_key={}",
                           "'api_key': '{}'", "\"token\": \"{}\"", "Incorrect API key provided: {}.",
                           "<!channel> {} <!here>"])


@given(keys, framing, st.text(max_size=40), st.text(max_size=40))
def test_credentials_never_show(key, frame, before, after):
    text = before + " " + frame.format(key) + " " + after
    assert key not in redact(text)
    assert key not in outside_text(text)
    assert REDACTED in redact(text)


@given(keys)
def test_shaped_credentials_are_redacted_from_model_answers_too(key):
    assert key not in to_mrkdwn(f"Use `{key}` as the token")


@given(st.from_regex(r"[A-Za-z0-9 .,:()'\-]{0,120}", fullmatch=True))
def test_ordinary_sentences_are_not_redacted(text):
    if not re.search(r"(?i)\b(sk-|xox|xapp-|bearer|authorization|api.?key|token|secret|password)", text):
        assert redact(text) == text


def test_named_secrets_and_headers_are_redacted_but_names_kept():
    assert redact("Authorization: Bearer abc.def.ghi") == "Authorization: Bearer [redacted]"
    assert redact("password=hunter22 and api_key: s3cr3tvalue") == "password=[redacted] and api_key: [redacted]"
    assert redact("token: os.environ", named=False) == "token: os.environ"


def test_text_from_outside_is_escaped_for_mrkdwn():
    assert outside_text("Bearer sk-proj-abcdefghijklmnop <!channel> & co") == \
        "Bearer [redacted] &lt;!channel&gt; &amp; co"
    assert outside_text("x" * 50, limit=10) == "x" * 9 + "…"


@given(st.sampled_from(["https://evil.example\\@sso.company.com", "https://evil.example\\\\@sso.company.com/login",
                        "HTTPS://evil.example\\x@sso.company.com", "https://evil.example\\.@sso.company.com:443"]))
def test_a_link_whose_backslash_hides_the_host_shows_where_a_browser_goes(url):
    """Browsers read `\\` as `/` in http(s) URLs, so `https://evil.example\\@sso.company.com` opens evil.example;
    the host shown must be that one, not the part after the `@`."""
    label = "sso.company.com"
    for shown in (safe_mrkdwn(f"<{url}|{label}>"), to_mrkdwn(f"[{label}]({url})"),
                  safe_markdown(f"[{label}]({url})")):
        assert "(evil.example)" in shown, shown


def markdown_link_ends_show_their_host(shown: str) -> bool:
    """Every `](`, `][` or `]:` left in standard Markdown (a link or a reference to one) closes a label that ends
    with the host of the URL it opens."""
    for match in re.finditer(r"\](?=[(\[:])", shown):
        url = re.match(r"\(<?((?i:https?://|mailto:)[^\s)>]+)", shown[match.end():])
        if url is None or not shown[:match.start()].endswith(f"({link_host(url.group(1))})"):
            return False
    return True


@given(st.sampled_from([
    "[sso.company.com [1]](https://evil.example)",  # brackets inside the label (CommonMark allows them)
    "[sso.company.com](<https://evil.example>)",  # a destination in angle brackets
    '[sso.company.com](https://evil.example "Company SSO")',  # a link title
    "[sso.company.com][1]\n\n[1]: https://evil.example",  # a reference link
    "[sso.company.com]\n\n[sso.company.com]: https://evil.example",  # a shortcut reference
]))
def test_every_markdown_link_form_shows_its_real_host(text):
    assert markdown_link_ends_show_their_host(safe_markdown(text)), safe_markdown(text)


def test_a_streamed_link_with_a_label_longer_than_the_lookback_still_shows_its_host():
    """Pieces are made safe on their own: a label of 420 invisible characters after the visible one must not
    carry a link to evil.example past the check."""
    text = "[sso.company.com" + "\u200b" * 420 + "](https://evil.example/login) done"
    shown, taken = "", 0
    for cut in (100, 300, 450, len(text)):
        end = stable_length(text[:cut]) if cut < len(text) else cut
        if end > taken:
            shown, taken = shown + safe_markdown(text[taken:end]), end
    assert markdown_link_ends_show_their_host(shown), shown[-80:]
