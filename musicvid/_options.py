"""Stage options: ``RenderConfig.options`` entries named ``<stage>_<option>``.

A stage declares its options with defaults and parsers; :func:`stage_options` reads the
ones with its prefix, converts strings from the command line (``--option svd_steps=12``)
and rejects a misspelt name with the list of valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar

from .errors import InvalidOptionError

__all__ = ["Opt", "config_option", "config_option_error", "option_table", "parse_bool",
           "parse_stage_options", "stage_option", "stage_options"]

T = TypeVar("T")


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


def non_negative_int(value: object) -> int:
    """An integer >= 0 (0 usually means "the default's")."""
    v = int(str(value), 10) if not isinstance(value, int) or isinstance(value, bool) else value
    if v < 0:
        raise ValueError(value)
    return v


def non_negative_float(value: object) -> float:
    v = float(value)  # type: ignore[arg-type]
    if not v >= 0:
        raise ValueError(value)
    return v


# -- typed stage options: a dataclass per stage (``Stage.Options``) --------------------------

def stage_option(default: Any, parse: Callable[[Any], Any] | None = None, hint: str = "",
                 choices: tuple[str, ...] | None = None, help: str = "", key: bool = True) -> Any:
    """A field of a stage's ``Options`` dataclass: its default, how a given value is
    parsed (default: by the default's type), the hint for errors, the allowed choices.
    ``key=False`` keeps it out of the cache keys (it changes how, not what: offload...)."""
    if parse is None and choices is None:
        parse = _parser_for(default)
    spec = Opt(default, parse or str, hint, choices)
    return field(default=default, metadata={"musicvid_stage_option": spec, "help": help,
                                            "key": key})


def _parser_for(default: Any) -> Callable[[Any], Any]:
    if isinstance(default, bool):
        return parse_bool
    if isinstance(default, int):
        return lambda v: v if isinstance(v, int) and not isinstance(v, bool) else int(str(v), 10)
    if isinstance(default, float):
        return float
    return str


def option_table(cls: type) -> dict[str, Opt]:
    """An ``Options`` dataclass -> ``{field: Opt}`` (fields without :func:`stage_option`
    parse by their default's type)."""
    out: dict[str, Opt] = {}
    for f in fields(cls):
        spec = f.metadata.get("musicvid_stage_option")
        if spec is None:
            default = f.default if f.default is not MISSING else None
            spec = Opt(default, _parser_for(default))
        out[f.name] = spec
    return out


def config_option(config_field: str, *, key: bool = True, help: str = "") -> Any:
    """A field of a stage's ``Options`` whose value is a :class:`RenderConfig` field.

    The setting belongs to the stage (it is typed there, listed by ``musicvid plugins
    --options`` and enters the stage's cache key like any option), while the config field
    and its flag and environment variable stay as aliases: ``--option sdxl_steps=30`` and
    ``--steps 30`` set the same thing; given both, the ``--option`` wins. A given value is
    parsed like the flag's and checked by ``RenderConfig``'s own rules."""
    spec = Opt(None, lambda v: _config_spec(config_field).parse(v) if isinstance(v, str) else v,
               "", None)  # a typed value (Python's options={...: 18}) goes to the checks as is
    return field(default=None, metadata={"musicvid_stage_option": spec, "help": help,
                                         "key": key, "config_field": config_field})


def _config_spec(name: str) -> Any:
    from .options import iter_options

    for spec in iter_options():
        if spec.name == name:
            return spec
    raise LookupError(f"RenderConfig has no option {name!r}")  # a stage's own bug


def config_fields(cls: type) -> dict[str, str]:
    """``{option: RenderConfig field}`` of the :func:`config_option` fields of ``cls``."""
    return {f.name: f.metadata["config_field"] for f in fields(cls)
            if "config_field" in f.metadata}


def config_option_error(exc: InvalidOptionError, options: Mapping[str, Any], prefix: str,
                        cls: type) -> InvalidOptionError:
    """``exc`` (about a :class:`RenderConfig` field) renamed to the ``prefix_*`` option of
    ``cls`` that gave the value, when one did; else ``exc`` itself. For a stage that checks
    a :func:`config_option` value itself: ``encoder_crf=99`` fails naming ``encoder_crf``,
    ``--crf 99`` naming ``crf``."""
    key = next((f"{prefix}_{n}" for n, f in config_fields(cls).items()
                if options.get(f"{prefix}_{n}") is not None
                and f.replace("_", "-") == exc.option.replace("_", "-")), None)
    if key is None:
        return exc
    return InvalidOptionError(key, exc.value, exc.valid, hint=exc.hint)


def parse_stage_options(options: Mapping[str, Any], prefix: str, cls: type[T],
                        config: Any = None) -> T:
    """The ``prefix_*`` entries of ``options`` as an instance of the dataclass ``cls``;
    :func:`config_option` fields are read from ``config`` unless given."""
    values = stage_options(options, prefix, option_table(cls))
    aliases = config_fields(cls)
    if aliases and config is not None:
        given = {aliases[n]: values[n] for n in aliases
                 if options.get(f"{prefix}_{n}") is not None}
        if given:
            import dataclasses

            try:
                config = dataclasses.replace(config, **given)  # RenderConfig's checks
            except InvalidOptionError as exc:
                renamed = config_option_error(exc, options, prefix, cls)
                if renamed is exc:
                    raise
                raise renamed from None
        for name, config_field in aliases.items():
            values[name] = getattr(config, config_field)
    return cls(**values)

