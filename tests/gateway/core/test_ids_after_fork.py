"""``gateway serve --workers N`` forks its workers from one parent: the generators of request ids and trace ids are
seeded at import, so without a reseed in each child every worker would hand out the parent's sequence — two
workers, the same request ids and trace ids for different requests. Each child draws its own."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from gateway.core.traceparent import new_span_id, new_trace_id
from gateway.web.requestid import choose_request_id


def in_a_forked_child(draw: Callable[[], str]) -> str:
    """``draw()`` in a child forked now (what the supervisor does), passed back through a pipe."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, draw().encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        return pipe.read().decode()


@pytest.mark.parametrize("draw", [lambda: choose_request_id(None), new_trace_id, new_span_id],
                         ids=["request id", "trace id", "span id"])
def test_a_forked_worker_draws_other_ids_than_its_parent(draw: Callable[[], str]) -> None:
    child = in_a_forked_child(draw)
    assert len(child) in (16, 32)
    assert child != draw(), "the child repeated the parent's next id"
