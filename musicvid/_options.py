"""Stage options: ``RenderConfig.options`` entries named ``<stage>_<option>``.

A stage declares its options with defaults and parsers; :func:`stage_options` reads the
ones with its prefix, converts strings from the command line (``--option svd_steps=12``)
and rejects a misspelt name with the list of valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidOptionError

__all__ = ["Opt", "parse_bool", "stage_options"]


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{value!r} is not a yes/no value")


@dataclass(frozen=True)
class Opt:
    """One option: its default, a parser for given values, and a hint for errors."""

    default: Any
    parse: Callable[[Any], Any] = str
    hint: str = ""
    choices: tuple[str, ...] | None = None


def stage_options(options: Mapping[str, Any], prefix: str, spec: Mapping[str, Opt]
                  ) -> dict[str, Any]:
    """The options for ``prefix`` (e.g. ``svd``): defaults updated with valid given values."""
    out = {name: opt.default for name, opt in spec.items()}
    head = prefix + "_"
    for key, raw in options.items():
        if not key.startswith(head):
            continue
        name = key[len(head):]
        opt = spec.get(name)
        if opt is None:
            raise InvalidOptionError("option", key, sorted(head + n for n in spec))
        if raw is None:
            continue
        if opt.choices is not None:
            value = str(raw).strip().lower()
            if value not in opt.choices:
                raise InvalidOptionError(key, raw, list(opt.choices))
        else:
            try:
                value = opt.parse(raw)
            except (TypeError, ValueError):
                raise InvalidOptionError(key, raw, hint=opt.hint or None) from None
        out[name] = value
    return out


def positive_int(value: object) -> int:
    v = int(str(value), 10) if not isinstance(value, int) or isinstance(value, bool) else value
    if v < 1:
        raise ValueError(value)
    return v


def non_negative_float(value: object) -> float:
    v = float(value)  # type: ignore[arg-type]
    if not v >= 0:
        raise ValueError(value)
    return v
