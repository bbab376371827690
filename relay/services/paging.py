"""Lists a page at a time: every list page shows at most `PAGE_SIZE` rows and counts the
rest in SQL, so a page costs the same however long the list (docs/architecture.md)."""

from dataclasses import dataclass
from typing import Generic
from typing import TypeVar

from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

PAGE_SIZE = 25
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int  # from 1
    total: int  # rows in every page together

    @property
    def first(self) -> int:
        """The place of this page's first row in the whole list, from 1."""
        return (self.number - 1) * PAGE_SIZE + 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def count_of(session: Session, query: Select) -> int:
    """How many rows `query` gives, counted by the database, not loaded to be counted."""
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))


def page_of(session: Session, query: Select, number: int, count: Select | None = None) -> Page:
    """Page `number` of `query` (ordered, with its eager loads), and how many rows in all:
    `query` counted, or `count` where a statement of its own counts the same rows with less
    work. A number past the end gives the last page, one before the start the first."""
    total = count_of(session, query) if count is None else session.scalar(count)
    last = max(1, -(-total // PAGE_SIZE))
    number = min(max(1, number), last)
    items = session.scalars(query.limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE)).unique()
    return Page(list(items), number, total)
