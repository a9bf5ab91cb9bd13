"""What a web page says about itself in its markup: address, publication date, outlet and syndicating agency.

Trafilatura reads these too, but on real pages it misses a canonical link the HTML parser moved into the body, takes
a teaser's date from a "related content" box or a timestamp from a script, and turns host names into outlet names
like "Futurezoneat". The page's own structured markup is more reliable, so it is read first, in this order:

- URL: ``<link rel=canonical>`` (wherever the parser put it), then ``og:url``; https when the other one says so.
- date: JSON-LD ``datePublished`` of the article, then ``article:published_time`` and its kin, then a ``<time>``
  marked as the publication time or inside ``<article>``; the caller falls back to a date in the title's site suffix
  ("| DW | 10.06.2013") and only then to trafilatura's.
- outlet: ``og:site_name`` or the JSON-LD publisher, preferring the one that names the page's host; a name that is
  just a host ("https://www.hawaiinewsnow.com", "nj") becomes the readable host ("hawaiinewsnow.com", "nj.com").
  A JSON-LD publisher that is not the outlet (a wire story on a newspaper's site) is the story's agency: it goes with
  the byline, never in place of the outlet.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from dateutil import parser as date_parser

from ..documents import web_url
from ..text.cleaning import clean_inline
from .dates import parse_date

__all__ = ["PageFacts", "page_facts", "readable_host", "split_site_suffix"]

_ARTICLE_TYPES = frozenset(
    """article newsarticle reportagenewsarticle analysisnewsarticle opinionnewsarticle reviewnewsarticle
    backgroundnewsarticle blogposting socialmediaposting liveblogposting report scholarlyarticle techarticle
    webpage""".split()  # noqa: SIM905 - a word list reads better as words
)
# Meta tags that state when the article was published (property, name or itemprop), most specific first.
_DATE_META = (
    "article:published_time",
    "og:published_time",
    "og:article:published_time",
    "datepublished",
    "publishdate",
    "publish-date",
    "pubdate",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.issued",
    "dcterms.created",
    "dc.date",
)
# Containers whose dates belong to other stories: teasers, related links, sidebars, comments.
_ELSEWHERE = re.compile(r"related|teaser|recommend|sidebar|comment|trending|popular|more-|promo|widget", re.I)
_ELSEWHERE_TAGS = frozenset(("aside", "nav", "footer"))
# News agencies whose stories newspapers' sites republish under their own name; such a page's JSON-LD often names
# the agency as publisher, which is the story's origin (its byline), not the outlet that shows it.
_AGENCIES = frozenset(
    """ap associatedpress reuters afp agencefrancepresse pti presstrustofindia dpa deutschepresseagentur ansa efe
    kyodo kyodonews xinhua upi unitedpressinternational ians ani tass yonhap anadoluagency canadianpress
    thecanadianpress aap australianassociatedpress pa pamedia pressassociation bloomberg""".split()  # noqa: SIM905 - a word list reads better as words
)
_FIRST_YEAR = "1990"
# A day in a URL path: /2019/11/18/, /2019-11-19/, /20191118/.
_URL_DAY = re.compile(
    r"/(?P<y>(?:19|20)\d\d)(?:/(?P<m>[01]?\d)/(?P<d>[0-3]?\d)|-(?P<m2>[01]\d)-(?P<d2>[0-3]\d)|(?P<m3>[01]\d)(?P<d3>[0-3]\d))(?=[/.]|$)"
)
_NAME_CHARS = re.compile(r"[^0-9a-z]+")
# Separators between a title and the site name a page appends to it: "Title | DW | 10.06.2013", "Title - Reuters".
_SEPARATOR = re.compile(r"\s+(?:[|\-–—·»:]|::)\s+|\s*\|\s*")
_TLD = re.compile(r"\.(?:com|net|org|info|co|news|[a-z]{2})(?:\.[a-z]{2})?$")


@dataclass(frozen=True)
class PageFacts:
    """Metadata found in a page's markup; None where the markup says nothing usable."""

    url: str | None = None
    date: str | None = None
    outlet: str | None = None
    agency: str | None = None
    names: tuple[str, ...] = ()  # every name the page gives itself, for recognising it in a title


def page_facts(tree: Any, fallback_outlet: str | None = None) -> PageFacts:
    """URL, date, outlet and agency from a parsed page (an lxml HTML tree); ``fallback_outlet`` is trafilatura's."""
    records = list(_json_ld(tree))
    article = next((r for r in records if _types(r) & _ARTICLE_TYPES - {"webpage"}), None)
    article = article or next((r for r in records if "webpage" in _types(r)), None)
    url = _url(tree, article)
    site_name = _meta(tree, "og:site_name")
    publisher = _publisher(article) or next((_name(r) for r in records if "organization" in _types(r)), None)
    outlet, agency = _outlet(site_name, publisher, url, fallback_outlet)
    names = tuple(n for n in (outlet, site_name, publisher, fallback_outlet, _host(url)) if n)
    return PageFacts(url=url, date=_local_day(_stamp(tree, article), url), outlet=outlet, agency=agency, names=names)


# -- JSON-LD --------------------------------------------------------------------------------------------------------


def _json_ld(tree: Any) -> Iterator[dict[str, Any]]:
    """Every JSON-LD object of the page, ``@graph`` members and list items included; broken blocks are skipped."""
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text)
        except (ValueError, RecursionError):
            continue
        stack = [data]
        while stack:
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                yield item
                if isinstance(item.get("@graph"), list):
                    stack.extend(item["@graph"])


def _types(record: dict[str, Any]) -> set[str]:
    kind = record.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.lower() for k in kinds if isinstance(k, str)}


def _name(record: Any) -> str | None:
    if isinstance(record, list):
        record = record[0] if record else None
    if isinstance(record, str):
        return clean_inline(record) or None
    if isinstance(record, dict) and isinstance(record.get("name"), str):
        return clean_inline(record["name"]) or None
    return None


def _publisher(article: dict[str, Any] | None) -> str | None:
    return _name(article.get("publisher")) if article else None


# -- fields ---------------------------------------------------------------------------------------------------------


def _meta(tree: Any, *keys: str) -> str | None:
    """The content of the first of ``keys`` (property, name or itemprop) the page's meta tags state."""
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        if key in keys and key not in found and (content := clean_inline(meta.get("content") or "")):
            found[key] = content
    return next((found[key] for key in keys if key in found), None)


def _url(tree: Any, article: dict[str, Any] | None) -> str | None:
    canonical = next(
        (
            link.get("href", "").strip()
            for link in tree.iter("link")
            if "canonical" in (link.get("rel") or "").lower().split() and link.get("href", "").strip()
        ),
        None,
    )
    og_url = _meta(tree, "og:url")
    if og_url is None and article is not None and isinstance(article.get("url"), str):
        og_url = article["url"].strip()
    absolute_og = web_url(og_url)
    if canonical and absolute_og:
        canonical = urljoin(absolute_og, canonical)  # a relative canonical link, resolved against og:url
    elif canonical and canonical.startswith("//"):
        canonical = "https:" + canonical
    first = web_url(canonical) or absolute_og
    if first is None:
        return None
    # Both name the same page, one over https: the secure address is the one to link to.
    other = absolute_og if first != absolute_og else web_url(canonical)
    if other and first.startswith("http://") and other.startswith("https://"):
        mine, theirs = urlsplit(first), urlsplit(other)
        if _bare_host(mine.netloc) == _bare_host(theirs.netloc) and mine.path == theirs.path:
            first = "https://" + first[len("http://") :]
    parts = urlsplit(first)
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()


def _stamp(tree: Any, article: dict[str, Any] | None) -> str | None:
    """The publication timestamp the page's markup states, as written; None when none is a plausible date."""
    if article is not None:
        for key in ("datePublished", "dateCreated"):
            if isinstance(value := article.get(key), str) and _plausible(parse_date(value)):
                return value
    if (value := _meta(tree, *_DATE_META)) and _plausible(parse_date(value)):
        return value
    marked: list[Any] = []
    in_article: list[Any] = []
    elsewhere: list[Any] = []
    for time in tree.iter("time"):
        if not time.get("datetime"):
            continue
        if time.get("itemprop", "").lower() == "datepublished" or time.get("pubdate") is not None:
            marked.append(time)
        elif not _in_other_story(time):
            (in_article if any(a.tag == "article" for a in time.iterancestors()) else elsewhere).append(time)
    for group in (marked, in_article, elsewhere[:1]):
        for time in group:
            if _plausible(parse_date(value := time.get("datetime"))):
                return str(value)
    return None


def _plausible(date: str | None) -> str | None:
    """``date`` unless it is a placeholder ("0001-01-01T00:00:00Z") from before there were web pages."""
    return date if date is not None and date[:4] >= _FIRST_YEAR else None


def _local_day(stamp: str | None, url: str | None) -> str | None:
    """The day of a markup timestamp, or the publisher's own day when the URL states it and the stamp is UTC.

    Newsrooms stamp their markup in UTC: a US story published at 8 pm is "03:05Z" the next day there, while its URL
    (".../2019/11/18/...") carries the day the newsroom published it. The URL's day is taken only when it is the
    day before a UTC stamp earlier than 10:00 (or the day after one later than 14:00), which no zone can explain
    otherwise; a republished story's canonical URL with an older day is left alone.
    """
    date = _plausible(parse_date(stamp))
    if date is None or len(date) != 10 or not url or not (match := _URL_DAY.search(urlsplit(url).path)):
        return date
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            moment = date_parser.parse(stamp or "")
            month, day = next((match[f"m{n}"], match[f"d{n}"]) for n in ("", "2", "3") if match[f"m{n}"])
            stated = dt.date(int(match["y"]), int(month), int(day))
        except (ValueError, OverflowError, ArithmeticError, TypeError):
            return date
    if moment.utcoffset() != dt.timedelta(0):
        return date
    shift = (stated - dt.date.fromisoformat(date)).days
    return stated.isoformat() if (shift == -1 and moment.hour < 10) or (shift == 1 and moment.hour >= 14) else date


def _in_other_story(element: Any) -> bool:
    for ancestor in element.iterancestors():
        if ancestor.tag in _ELSEWHERE_TAGS or _ELSEWHERE.search(ancestor.get("class") or ""):
            return True
    return False


# -- outlet ---------------------------------------------------------------------------------------------------------


def _bare_host(netloc: str) -> str:
    host = netloc.lower().rsplit("@", 1)[-1].split(":", 1)[0]
    return host.removeprefix("www.")


def _host(url: str | None) -> str | None:
    return _bare_host(urlsplit(url).netloc) or None if url else None


def readable_host(value: str) -> str | None:
    """ "https://www.hawaiinewsnow.com/x" or "www.wday.ru" → the bare host; None when ``value`` is a name already.

    A brand written like a domain ("Space.com", "Süddeutsche.de") is a name, and stays as it is.
    """
    text = value.strip()
    if "://" in text:
        return _host(web_url(text))
    if " " not in text and text.lower().startswith("www.") and "." in text[4:]:
        return _bare_host(text.split("/", 1)[0])
    return None


def _key(name: str) -> str:
    """A name reduced for comparison: "DW.COM", "dw.com", "www.dw.com" and "DW" all give "dw"."""
    name = readable_host(name) or name.lower()
    if " " not in name:
        name = _TLD.sub("", name)
    return _NAME_CHARS.sub("", name.lower())


def _names_host(name: str, host: str | None) -> bool:
    if not host:
        return False
    key, label = _key(name), _key(host)
    return bool(key) and (key == label or (len(key) >= 3 and (key in label or label in key)))


def _mangled(name: str, host: str | None) -> bool:
    """Whether ``name`` is a host name rather than an outlet's name for itself.

    Trafilatura runs a host together ("Futurezoneat" for futurezone.at, "Wday_"); a page may give its bare host
    label as its site name ("nj" for nj.com). "Vox" or "Reuters" are names, though they match their hosts too.
    """
    if not host or " " in name:
        return False
    flat = _NAME_CHARS.sub("", host.lower())
    key = _NAME_CHARS.sub("", name.lower())
    if not key or "." in name:
        return False
    return "_" in name or key == flat or (name.islower() and flat.startswith(key))


def _outlet(
    site_name: str | None, publisher: str | None, url: str | None, fallback: str | None
) -> tuple[str | None, str | None]:
    host = _host(url)
    # A host label given as a site name ("usatoday", "nj") or a mangled host says less than the host itself.
    given = [name for name in (site_name, publisher, fallback) if name]
    # Trafilatura's name may only be the site's own mangled one capitalised ("Nj" from "nj"): it goes with it.
    mangled = {_key(name) for name in given if _mangled(name, host)}
    named = [name for name in given if _key(name) not in mangled]
    chosen = next((name for name in named if _names_host(name, host)), None) or next(iter(named), None) or host
    if chosen is not None:
        chosen = readable_host(chosen) or chosen
    agency = publisher if publisher and _key(publisher) in _AGENCIES and _key(publisher) != _key(chosen or "") else None
    return chosen, agency


# -- titles ---------------------------------------------------------------------------------------------------------


def split_site_suffix(title: str, names: tuple[str, ...]) -> tuple[str, str | None]:
    """``title`` without a trailing (or leading) site name that repeats one of ``names``, and a date found there.

    "Uncork the mystery | DW | 10.06.2013" → ("Uncork the mystery", "2013-06-10"). A title that would be left empty
    is kept whole; a separator inside the headline itself ("Opinion | Why…") stays unless it names the site.
    """
    keys = {_key(name) for name in names if _key(name)}
    if not keys:
        return title, None
    parts = _SEPARATOR.split(title)
    if len(parts) < 2:
        return title, None
    date = None
    end = len(parts)
    stripped_name = False
    while end > 1:
        part = parts[end - 1].strip()
        part_date = _suffix_date(part)
        if _key(part) in keys:
            stripped_name = True
        elif part_date is None or date is not None:
            break
        else:
            date = part_date
        end -= 1
    if not stripped_name:
        end, date = len(parts), None
    start = 1 if end - 1 > 0 and _key(parts[0]) in keys else 0
    if start == 0 and end == len(parts):
        return title, None
    kept = _kept_text(title, parts, start, end)
    return (kept, date) if kept else (title, None)


def _suffix_date(part: str) -> str | None:
    return parse_date(part) if re.fullmatch(r"[\d./-]{6,10}", part) else None


def _kept_text(title: str, parts: list[str], start: int, end: int) -> str:
    """The span of ``title`` from part ``start`` to part ``end`` (exclusive), separators inside it kept."""
    position = 0
    spans = []
    for part in parts:
        found = title.find(part, position)
        spans.append((found, found + len(part)))
        position = found + len(part)
    return title[spans[start][0] : spans[end - 1][1]].strip()
