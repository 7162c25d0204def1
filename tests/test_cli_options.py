"""Shared option parsing: comma lists of positive integers."""

import pytest

from facies.cli.options import int_tuple
from facies.engine import FaciesError


def test_int_tuple_parses_and_passes_none():
    assert int_tuple("64,64,128", "--chunks", lengths=(3,)) == (64, 64, 128)
    assert int_tuple(" 50, 100 ", "--trees") == (50, 100)
    assert int_tuple(None, "--brick") is None


@pytest.mark.parametrize("text, message", [("64,64", "--chunks must be 3 comma-separated"), ("a,b,c", "not 'a,b,c'"),
                                           ("0,64,64", "positive"), ("", "positive")])
def test_int_tuple_errors_name_the_option(text, message):
    with pytest.raises(FaciesError, match=message):
        int_tuple(text, "--chunks", lengths=(3,))


def test_name_list_and_parse_brick():
    from facies.cli.options import name_list, parse_brick

    assert name_list("a, b,,c,") == ["a", "b", "c"] and name_list(None) is None
    assert parse_brick("64,64") == (64, 64) and parse_brick(None) is None
    with pytest.raises(FaciesError, match="--brick must be 2 or 3"):
        parse_brick("1,2,3,4")
