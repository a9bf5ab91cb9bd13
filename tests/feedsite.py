"""The library's loopback news site (:class:`assistant.testing.FeedSite`) with this suite's test feeds and saved
pages: ``tests/data/feeds`` (feedparser's feeds, see its README) and the real pages the summaries feed links to."""

from __future__ import annotations

from pathlib import Path

from assistant import testing

DATA = Path(__file__).parent / "data"
FEEDS = DATA / "feeds"
PAGES = DATA / "real"


class FeedSite(testing.FeedSite):
    def feed(self, name: str, **fill: str) -> bytes:
        """A test feed's bytes, with ``{base}``-style fields filled in (the first host's address)."""
        data = (FEEDS / name).read_bytes()
        for key, value in {"base": self.url(""), **fill}.items():
            data = data.replace(b"{" + key.encode() + b"}", value.encode())
        return data

    def serve_pages(self) -> None:
        """The real saved pages the summaries feed links to, under /pages/."""
        for page in ("reuters-canonical-in-body.html", "timesunion-syndicated-agency.html"):
            self.put(f"/pages/{page}", (PAGES / page).read_bytes(), headers={"Content-Type": "text/html"})
