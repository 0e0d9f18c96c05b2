from __future__ import annotations

from pathlib import Path

from shelfscan.db.session import session_factory, session_scope


def test_sessions_of_one_database_share_one_session_class(tmp_path: Path) -> None:
    """Each sessionmaker makes a Session subclass whose first session pays SQLAlchemy's event
    set-up; sessions of one database come from one sessionmaker, so they share its class."""
    url = f"sqlite:///{tmp_path / 'one.db'}"
    with session_scope(url) as first, session_scope(url) as second:
        assert type(first) is type(second)
        assert first is not second
    assert session_factory(url) is session_factory(url)
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert session_factory(other) is not session_factory(url)
    assert session_factory(other).kw["bind"] is not session_factory(url).kw["bind"]
