"""Tests of assistant.cleaning: scrape debris goes, every sentence stays."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.text.cleaning import clean_inline, clean_text

INVISIBLE = {
    "\u00ad",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
}


def test_image_links_removed_whole_line_and_inline() -> None:
    raw = '![]()\n![alt text](https://x.example/a(1).png)\nBefore ![pic](u.png "t") after.\n![ref][1]'
    assert clean_text(raw) == "Before after."


def test_dangling_pipes_removed_words_kept() -> None:
    raw = "![]() |\nChina’s Big Techs Ramp Up AI Investments as Global Race Heats Up |\n| Leading cell"
    assert clean_text(raw) == ("China’s Big Techs Ramp Up AI Investments as Global Race Heats Up\n\nLeading cell")


def test_inner_pipes_and_absolute_values_kept() -> None:
    assert clean_text("a | b | c\n|x| is the absolute value") == "a | b | c\n\n|x| is the absolute value"


@pytest.mark.parametrize("rule", ["|", "| | |", "---", "|---|---|", "| :--- | ---: |", "===", "* * *", "—"])
def test_rule_lines_dropped(rule: str) -> None:
    assert clean_text(f"Keep me.\n{rule}\nAnd me.") == "Keep me.\n\nAnd me."


@pytest.mark.parametrize(
    "line",
    [
        "Comments",
        "comments",
        "COMMENTS:",
        "Post a Comment",
        "Leave a comment",
        "Leave a reply",
        "12 comments",
        "1 Comment",
        "Share",
        "Share this article",
        "Share this story",
        "Share on Facebook",
        "Share on X",
        "Share on LinkedIn",
        "Tweet",
        "Email",
        "Print",
        "Advertisement",
        "ADVERTISEMENT",
        "Skip to content",
        "Skip to main content",
        "Subscribe",
        "Sign up for our newsletter",
        "Read more",
        "Read more »",
        "Related",
        "Related articles:",
        "Related stories",
        "Back to top",
        "Next article",
        "Previous article",
        "Home",
        "Menu",
        "Copyright 2024 Example Media",
        "© 2025 News Corp",
        "Copyright © 2025 Foo Inc. All rights reserved.",
        "All rights reserved.",
        "| Share |",
    ],
)
def test_boilerplate_lines_dropped(line: str) -> None:
    assert clean_text(f"First sentence.\n{line}\nSecond sentence.") == "First sentence.\n\nSecond sentence."


@pytest.mark.parametrize(
    "line",
    [
        "Share prices fell sharply on Tuesday.",
        "Comments from the minister drew criticism.",
        "Copyright law was changed by parliament.",
        "(c) the third option is to wait.",
        "Email remains the main way staff talk to each other.",
        "Home sales rose 4 percent in January.",
        "Read more books, the minister urged.",
        "Subscribe " + "x " * 45,  # a long line is prose even if it starts like a widget
    ],
)
def test_sentences_that_start_like_boilerplate_are_kept(line: str) -> None:
    assert clean_text(line) == line.strip()


def test_boilerplate_words_inside_a_sentence_are_kept() -> None:
    line = "Readers can share this story or leave a comment, the editor said."
    assert clean_text(line) == line


def test_characters_cleaned() -> None:
    raw = "A\u200bI\u00adward\u202ebidi\ufeff\x07bell\tTab\u00a0nbsp\u2003em  spaces\u3000ideo"
    assert clean_text(raw) == "AIwardbidibell Tab nbsp em spaces ideo"


def test_nfc_not_nfkc() -> None:
    assert clean_text("cafe\u0301 ﬁ x²") == "café ﬁ x²"


def test_newlines_normalised_and_paragraphs() -> None:
    raw = "  One.  \r\nTwo.\rThree.\n\n\n\n  Four.\u2028Five.  \n"
    assert clean_text(raw) == "One.\n\nTwo.\n\nThree.\n\nFour.\n\nFive."


@pytest.mark.parametrize("raw", ["", "   ", "\n\n", "![]()\n|\nComments\nPost a Comment", "\u200b\ufeff"])
def test_nothing_left_is_empty_string(raw: str) -> None:
    assert clean_text(raw) == ""


def test_clean_inline() -> None:
    assert clean_inline("  Big\u200b  News\n\tToday\u00a0! \r\n") == "Big News Today !"
    assert clean_inline("cafe\u0301") == "café"
    assert clean_inline("\n \u200b") == ""


# Text heavy in the characters the cleaner deals with, so examples hit the interesting cases.
_SPECIAL = st.sampled_from(
    [
        *sorted(INVISIBLE),
        *["\n", "\r", "\r\n", "\t", " ", "\u00a0", "\u2003", "\x00", "\x1b", "\x85", "\u2028"],
        *["|", "-", "!", "[", "]", "(", ")", "![]()", "Comments", "Share", "\u0301", "e", "#"],
    ]
)
_TEXT = st.lists(st.one_of(st.text(max_size=8), _SPECIAL), max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_clean_text_is_idempotent(raw: str) -> None:
    once = clean_text(raw)
    assert clean_text(once) == once


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_clean_text_output_invariants(raw: str) -> None:
    out = clean_text(raw)
    assert out == out.strip()
    assert "\n\n\n" not in out
    assert not INVISIBLE & set(out)
    assert all(c == "\n" or unicodedata.category(c) != "Cc" for c in out)
    assert "  " not in out
    for paragraph in out.split("\n\n") if out else []:
        assert paragraph and "\n" not in paragraph
        assert paragraph == paragraph.strip()
    assert unicodedata.normalize("NFC", out) == out


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_clean_inline_invariants(raw: str) -> None:
    out = clean_inline(raw)
    assert out == out.strip()
    assert "\n" not in out and "  " not in out
    assert not INVISIBLE & set(out)
    assert all(unicodedata.category(c) != "Cc" for c in out)
    assert clean_inline(out) == out


@pytest.mark.parametrize(
    "sentence",
    [
        "Two million people subscribed to the newsletter last year, the company said.",
        "The newsletter, which lands in 40,000 inboxes, was sold to a rival publisher.",
        "Readers who sign up for alerts get the verdict first, the court's press office said.",
    ],
)
def test_sentences_about_newsletters_are_news_not_prompts(sentence: str) -> None:
    assert clean_text(f"Intro line of the story.\n{sentence}\nClosing line.") == (
        f"Intro line of the story.\n\n{sentence}\n\nClosing line."
    )
