"""Philox4x64-10 against Random123's known answers and NumPy's independent C implementation."""

import numpy as np

from facies.kernels.philox import philox4x64, reference_words32, stream_words32, to_unit


def test_known_answer_vectors():
    # Random123 kat_vectors, philox4x64 10 rounds
    zero = philox4x64(np.zeros(4, np.uint64), np.zeros(2, np.uint64))
    assert [int(v) for v in zero] == [0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B]
    ones = philox4x64(np.full(4, 2**64 - 1, np.uint64), np.full(2, 2**64 - 1, np.uint64))
    assert [int(v) for v in ones] == [0x87B092C3013FE90B, 0x438C3C67BE8D0224, 0x9CC7D7C69CD777B6, 0xA09CAEBF594F0BA0]


def test_fast_stream_equals_reference_including_carries():
    for key, c, first in [((5, 2), (3, 7, 2**64 - 1), 0), ((2**63, 1), (0, 0, 0), 11),
                          ((9, 3), (1, 2**64 - 1, 4), 2**40)]:
        np.testing.assert_array_equal(stream_words32(key, *c, 45, first_block=first),
                                      reference_words32(key, *c, 45, first_block=first))


def test_uniforms_in_open_interval_and_uniform():
    w = stream_words32((1, 2), 0, 0, 0, 200_000)
    u = to_unit(w)
    assert u.min() > 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005
    assert to_unit(np.array([0, 2**32 - 1], np.uint32)).tolist() == [0.5 / 2**32, 1 - 0.5 / 2**32]


def test_draw_ids_are_made_once_per_array_module():
    from facies.kernels.gmm import PhiloxDraws

    draws = PhiloxDraws(3, [5, 6], tag=2, model_ids=[0, 8], n=10)
    stream_ids, model_ids = draws.ids_on(np)
    assert draws.ids_on(np)[0] is stream_ids
    assert stream_ids.dtype == np.uint64 and stream_ids.tolist() == [5, 6]
    assert model_ids.dtype == np.int64 and model_ids.tolist() == [0, 8]
