"""Web pages from real sites (faithful reductions in tests/data/real, see its README): metadata and boilerplate.

Each case failed before issue 11: the wrong date, no URL, a mangled outlet, the agency as outlet, a template page
indexed, or links to other stories left in the article text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.documents import Article
from assistant.ingest.loading import load_file

REAL = Path(__file__).parent / "data" / "real"


def page(name: str) -> Article:
    articles, skipped = load_file(REAL / name, REAL, max_bytes=1 << 20)
    assert skipped == [] and len(articles) == 1, skipped
    return articles[0]


def test_title_suffix_date_beats_a_related_teasers_date() -> None:
    article = page("dw-title-suffix-date.html")
    assert article.date == "2013-06-10"  # not 2019-08-01, the teaser of another story
    assert article.title == "A quiet valley of red wine"  # "| DW | 10.06.2013" repeats the outlet and the date
    assert article.source == "DW.COM"


def test_visible_time_element_beats_a_script_timestamp() -> None:
    assert page("msn-time-vs-script-stamp.html").date == "2019-11-19"  # not the 2019-11-14 of <head data-info>


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("reuters-canonical-in-body.html", "https://www.reuters.com/article/us-global-markets-idUSKBN0000000"),
        (
            "pmc-canonical-after-body.html",
            "https://www.rollingstone.com/music/music-news/rock-band-anniversary-tour-000001/",
        ),
    ],
)
def test_canonical_link_wherever_the_parser_put_it(name: str, url: str) -> None:
    article = page(name)
    assert article.url == url
    assert article.id == url  # an article with a URL is known by it, not by its file path


def test_reuters_outlet_is_the_name_that_matches_the_host() -> None:
    assert page("reuters-canonical-in-body.html").source == "Reuters"  # og:site_name says "U.S.", a section


def test_syndicated_story_keeps_the_outlet_and_credits_the_agency() -> None:
    article = page("timesunion-syndicated-agency.html")
    assert article.source == "Times Union"
    assert article.author == "JANE EXAMPLE (Associated Press)"


@pytest.mark.parametrize(
    ("name", "outlet"),
    [
        ("futurezone-publisher-host.html", "futurezone.at"),  # was "Futurezoneat"
        ("hawaiinewsnow-site-name-url.html", "hawaiinewsnow.com"),  # was "https://www.hawaiinewsnow.com"
        ("nj-site-name-label.html", "nj.com"),  # was "Nj"
        ("wday-title-host.html", "wday.ru"),  # was "Wday_"
    ],
)
def test_host_names_become_readable_outlets(name: str, outlet: str) -> None:
    assert page(name).source == outlet


def test_unrendered_template_page_is_skipped_with_a_reason() -> None:
    articles, skipped = load_file(REAL / "unrendered-template.html", REAL, max_bytes=1 << 20)
    assert articles == []
    assert [s.reason for s in skipped] == [
        "unrendered page template: its text is {{…}} placeholders (save the page after it has loaded)"
    ]


def test_hover_card_does_not_run_into_the_sentence() -> None:
    text = page("thehill-rollover-card.html").text
    assert "threatened to kill Rep. Jane Example (D-Minn.), the U.S. Attorney’s Office announced Monday." in text
    assert "Tech roundup" not in text and "MORE" not in text


@pytest.mark.parametrize(
    ("name", "gone", "kept"),
    [
        (
            "express-dont-miss.html",
            ["DON'T MISS", "[INSIGHT]", "[VIDEO]", "[REACTION]", "READ MORE", "foreign minister"],
            ["crowds gathered near the port", "Shops near the square said they would close early on Saturday."],
        ),
        (
            "space-related-link.html",
            ["Related:", "Discovery in Images"],
            ["plumes rise from an ocean", "seventeen nights over two years"],
        ),
        (
            "cleveland-you-may-also-like.html",
            ["You may also like", "Who will make the Hall of Fame", "fan vote", "famous guitarist", "Fans really"],
            ["which will be honoured at the city's public auditorium on May 2."],
        ),
        (
            "physorg-explore-further.html",
            ["Explore further", "Unravelling"],
            ["first in animals and then in people.", "More information:"],
        ),
        ("nj-site-name-label.html", ["newsletters", "inbox"], ["Have a tip?", "$449,000"]),
    ],
)
def test_links_to_other_stories_and_newsletter_blurbs_are_dropped(name: str, gone: list[str], kept: list[str]) -> None:
    text = page(name).text
    for words in gone:
        assert words not in text
    for words in kept:
        assert words in text


@pytest.mark.parametrize(
    ("title", "names", "expected"),
    [
        ("A quiet valley | DW | 10.06.2013", ("DW.COM",), ("A quiet valley", "2013-06-10")),
        ("Oil slips - Reuters", ("Reuters",), ("Oil slips", None)),
        ("Title | futurezone.at", ("futurezone.at",), ("Title", None)),
        ("Opinion | Why rivers rise", ("NYTimes",), ("Opinion | Why rivers rise", None)),  # a section, not the site
        ("Reuters", ("Reuters",), ("Reuters", None)),  # nothing would be left
        ("Report | 10.06.2013", ("DW",), ("Report | 10.06.2013", None)),  # a date alone is no site suffix
    ],
)
def test_site_suffix(title: str, names: tuple[str, ...], expected: tuple[str, str | None]) -> None:
    from assistant.ingest.pagemeta import split_site_suffix

    assert split_site_suffix(title, names) == expected
