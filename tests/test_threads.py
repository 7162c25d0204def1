"""kernels/threads.py: every piece runs once, on one thread or many, and a piece's exception reaches the caller."""

from __future__ import annotations

import threading

import pytest

from facies.kernels.threads import default_workers, run_pieces


@pytest.mark.parametrize("workers", [1, 2, 4])
@pytest.mark.parametrize("count", [0, 1, 7])
def test_every_piece_runs_exactly_once(workers, count):
    seen, lock = [], threading.Lock()

    def run(piece):
        with lock:
            seen.append(piece)

    run_pieces(run, iter(range(count)), workers)  # a one-shot iterator is enough
    assert sorted(seen) == list(range(count))


@pytest.mark.parametrize("workers", [1, 3])
def test_an_exception_in_a_piece_is_raised_to_the_caller(workers):
    def run(piece):
        if piece == 2:
            raise ValueError("piece 2")

    with pytest.raises(ValueError, match="piece 2"):
        run_pieces(run, range(5), workers)


def test_default_workers_is_the_cpu_count_capped_at_8():
    assert default_workers(3) == 3
    assert 1 <= default_workers() <= 8
