"""SQLite's wake channel: what one datagram tells a peer, and only what concerns it."""

from __future__ import annotations

import math

from service.jobs._sqlite.peers import MAX_CANCEL_IDS, News, Peer


def _peer(tasks: frozenset[str] | None, *, cancels: bool = True) -> Peer:
    return Peer(token="t", address="/x.sock", host="h", tasks=tasks, cancels=cancels)


def test_a_peer_hears_only_of_the_tasks_it_runs() -> None:
    news = News(tasks={"a": 5.0, "b": 7.0}, final=True)
    decoded = News.decode(news.encode_for(_peer(frozenset(["b"]))) or b"")
    assert decoded == News(tasks={"b": 7.0}, final=True)
    assert News.decode(news.encode_for(_peer(None)) or b"") == news


def test_nothing_is_sent_to_a_peer_that_nothing_concerns() -> None:
    assert News(tasks={"a": 1.0}).encode_for(_peer(frozenset(["b"]))) is None
    assert News(cancelled={3}).encode_for(_peer(frozenset(), cancels=False)) is None
    assert not News()


def test_cancels_go_to_workers_and_too_many_become_check_all() -> None:
    news = News()
    news.add_cancelled([3, 1, 2])
    assert News.decode(news.encode_for(_peer(frozenset())) or b"") == News(cancelled={1, 2, 3})
    news.add_cancelled(range(10, 10 + MAX_CANCEL_IDS))
    assert news.cancelled_all
    assert not news.cancelled
    assert News.decode(news.encode_for(_peer(None)) or b"") == News(cancelled_all=True)


def test_an_expiry_reaches_workers_and_foreign_datagrams_are_ignored() -> None:
    news = News(expiry=42.0)
    assert News.decode(news.encode_for(_peer(frozenset(["a"]))) or b"") == news
    assert news.encode_for(_peer(frozenset())) is None  # no worker there
    assert News.decode(b"not json") is None
    assert News.decode(b'{"t": {"a": "soon"}}') is None
    assert News().expiry == math.inf
