"""Endpoints declared as data: a name, a path template and (for listings) a paginator factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from connectors._http.pagination import Paginator


def quote_segment(value: Any) -> str:
    """URL-encode one path segment (``lea+1@example.org`` -> ``lea%2B1%40example.org``)."""
    return quote(str(value), safe="")


@dataclass(frozen=True)
class Endpoint:
    """One vendor endpoint.

    Args:
        name: Identifier used in docs and logs ("persons").
        path: Template relative to the client's route prefix, e.g. ``/persons/{id}``; values given to
            :meth:`path_for` are URL-encoded, so e-mail keys are safe.
        paginator: Factory of a fresh paginator for each listing (None for single objects).

    Example:
        PERSONS = Endpoint("persons", "/persons", partial(ItemsPagingPaginator, per_page=1000))
        PERSONS.path_for()            # "/persons"
    """

    name: str
    path: str
    paginator: Callable[[], Paginator] | None = None

    def path_for(self, **values: Any) -> str:
        return self.path.format(**{key: quote_segment(value) for key, value in values.items()})

    def new_paginator(self) -> Paginator:
        if self.paginator is None:
            raise TypeError(f"endpoint {self.name!r} is not a listing")
        return self.paginator()
