"""The baseline every Relay figure stands beside: a bare Flask + SQLAlchemy app whose one
request inserts a row and selects it back, on the same kind of database, driven through
Flask's test client as Relay's rows are. What a request costs before Relay does anything.
"""

from flask import Flask
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import create_engine
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import sessionmaker

from bench.harness import Counter


class _Base(DeclarativeBase):
    pass


class Owner(_Base):
    __tablename__ = "bare_owner"
    id: Mapped[int] = mapped_column(primary_key=True)


class Item(_Base):
    __tablename__ = "bare_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("bare_owner.id"), index=True)
    body: Mapped[str] = mapped_column(String(2000))


class Baseline:
    """The bare app, its engine and its SQL counter; `request()` is one insert + select."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.engine = create_engine(url)
        if create:  # once, before any server's workers start
            _Base.metadata.create_all(self.engine)
            with Session(self.engine) as session:
                session.add(Owner(id=1))
                session.commit()
        self.counter = Counter().attach(self.engine)
        make_session = sessionmaker(self.engine, expire_on_commit=False)
        app = self.app = Flask("bare")

        @app.post("/items")
        def add():
            with make_session() as session:
                item = Item(owner_id=1, body="A letter-sized body. " * 20)
                session.add(item)
                session.commit()
                found = session.scalars(select(Item).where(Item.id == item.id)).one()
                return {"id": found.id, "length": len(found.body)}

        self.client = app.test_client()

    def request(self) -> None:
        response = self.client.post("/items")
        assert response.status_code == 200, response.status_code

    def close(self) -> None:
        self.engine.dispose()
