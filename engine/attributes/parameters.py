"""Attribute parameters as users give them (text on the command line, values in a run file), checked and typed.

A parameter's type is its default's: an int, a float, a bool, a string, a tuple of ints (a window per
axis: one value is taken for every axis), a tuple of floats (frequencies), or None (the workflow fills
it in, e.g. a quantisation clip measured on the volume).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facies.engine.attributes.spec import AttributeSpec, Parameter
from facies.engine.errors import FaciesError


def _as_type(parameter: Parameter, value: Any, where: str) -> Any:
    """``value`` converted to the type of ``parameter``'s default, or a one-line error naming ``where``."""
    default = parameter.default
    text = value.strip() if isinstance(value, str) else None
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            if text is not None and text.lower() in ("true", "yes", "1", "false", "no", "0"):
                return text.lower() in ("true", "yes", "1")
            raise ValueError
        if isinstance(default, tuple):
            items = [v for v in text.split(",") if v.strip()] if text is not None else (
                list(value) if isinstance(value, list | tuple) else [value])
            kind = float if default and isinstance(default[0], float) else int
            values = tuple(_number(kind, v) for v in items)
            if not values:
                raise ValueError
            if kind is int and len(default) == 3 and len(values) == 1:
                values = values * 3  # one window for every axis
            if kind is int and len(default) == 3 and len(values) != 3:
                raise ValueError
            return values
        if isinstance(default, int):
            return _number(int, value)
        if isinstance(default, float) or default is None:
            return _number(float, value)
        if isinstance(default, str):
            if text is None:
                raise ValueError
            return text
    except (TypeError, ValueError):
        pass
    example = ",".join(map(str, default)) if isinstance(default, tuple) else default
    raise FaciesError(f"{where} = {value!r} is not a valid {_describe(default)} (e.g. {example})")


def _number(kind, value):
    """An int or float from text or a number; a float that is not whole is not an int."""
    if isinstance(value, bool):
        raise ValueError
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(str(value).strip()) if isinstance(value, str) else int(value)
    return float(value)


def _describe(default: Any) -> str:
    if isinstance(default, bool):
        return "true/false"
    if isinstance(default, tuple):
        return "comma-separated list of " + ("numbers" if default and isinstance(default[0], float) else "integers")
    if isinstance(default, int):
        return "integer"
    if isinstance(default, float) or default is None:
        return "number"
    return "text"


def resolve_parameters(spec: AttributeSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter of ``spec``: its defaults updated by ``given`` (converted to the default's type).

    Raises
    ------
    FaciesError
        A name ``spec`` does not have (the ones it has are listed), or a value of the wrong type.
    """
    known = {p.name: p for p in spec.parameters}
    params = spec.defaults()
    for key, value in given.items():
        if key not in known:
            names = ", ".join(known) or "none"
            raise FaciesError(f"attribute {spec.name!r} has no parameter {key!r}; its parameters: {names}")
        params[key] = _as_type(known[key], value, f"{spec.name}.{key}")
    return params


def parse_assignments(texts: list[str] | None) -> dict[str, dict[str, str]]:
    """``["semblance.window=3,3,9", "envelope.x=1"]`` -> ``{"semblance": {"window": "3,3,9"}, ...}``.

    Raises
    ------
    FaciesError
        A text that is not ``ATTRIBUTE.PARAMETER=VALUE``.
    """
    out: dict[str, dict[str, str]] = {}
    for text in texts or []:
        key, sep, value = text.partition("=")
        name, dot, parameter = key.strip().partition(".")
        if not sep or not dot or not name or not parameter:
            raise FaciesError(f"--param {text!r} must be ATTRIBUTE.PARAMETER=VALUE, "
                              "e.g. --param semblance.window=3,3,9")
        out.setdefault(name, {})[parameter.strip()] = value
    return out
