"""The option schema: every render option declared once, on its :class:`RenderConfig` field.

A field made with :func:`option` carries an :class:`OptionSpec` (flag, help, environment
variable, type, choices, scope). From that one declaration:

- :func:`add_options` builds the ``argparse`` options of ``musicvid render/plan/analyze``
  (scopes ``job`` and ``model``) and of ``musicvid serve`` (scope ``model`` only: each job
  sets its own ``job`` options);
- :func:`config_from_args` turns the parsed arguments back into a :class:`RenderConfig`;
- :meth:`RenderConfig.create` reads each option's environment variable;
- the server validates its form fields and writes its OpenAPI schema from
  :func:`form_options` (the ``job`` options a request may set).

Scopes: ``job`` (what one video is: genre, style, palette, seed...), ``model`` (how this
machine renders: models, sizes, steps, encoder), ``server`` (the job server's own
settings).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InvalidOptionError

if TYPE_CHECKING:  # pragma: no cover
    from .config import RenderConfig

__all__ = ["SCOPES", "OptionSpec", "add_options", "config_from_args", "form_options",
           "integer", "iter_options", "option", "parse_stage_option_args"]

SCOPES = ("job", "model", "server")
_KEY = "musicvid"


@dataclass(frozen=True)
class OptionSpec:
    """How one option is set: by flag, environment variable or form field."""

    help: str
    scope: str = "model"
    flag: str | None = None  # default: --name-with-dashes
    env: str | None = None
    type: Callable[[str], Any] | None = None  # parses a command-line / env / form string
    choices: tuple[str, ...] | Callable[[], list[str]] | None = None
    metavar: str | None = None
    cli: bool = True  # False: Python and environment only (or a hand-made flag)
    flag_only: bool = False  # a switch: ``--flag`` sets True
    action: str | None = None  # "append": a repeatable flag (a list of parsed values)
    form: bool = True  # False: not a text field of the server's form (e.g. a file)
    hint: str | None = None  # what a valid value looks like, for errors
    name: str = ""  # filled in from the field

    def choice_list(self) -> list[str] | None:
        if self.choices is None:
            return None
        return list(self.choices() if callable(self.choices) else self.choices)

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def parse(self, raw: Any) -> Any:
        """A string from the command line, the environment or a form -> the field's value
        (RenderConfig's own checks run afterwards)."""
        if not isinstance(raw, str) or self.type is None:
            return raw
        try:
            return self.type(raw.strip())
        except (TypeError, ValueError):
            hint = self.hint or {integer: "an integer", float: "a number"}.get(self.type)  # type: ignore[call-overload]
            raise InvalidOptionError(self.name, raw, hint=hint) from None


def option(default: Any = None, *, help: str, scope: str = "model",
           default_factory: Callable[[], Any] | None = None, **spec: Any) -> Any:
    """A :class:`RenderConfig` field with its :class:`OptionSpec` (see the module doc)."""
    if scope not in SCOPES:
        raise ValueError(f"scope {scope!r} is not one of {SCOPES}")
    show = spec.pop("repr", True)  # False: a secret, left out of the config's repr
    meta = {_KEY: OptionSpec(help=help, scope=scope, **spec)}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta, repr=show)
    return dataclasses.field(default=default, metadata=meta, repr=show)


def iter_options(cls: type | None = None, scopes: Iterable[str] = SCOPES
                 ) -> Iterator[OptionSpec]:
    """The declared options of ``cls`` (default :class:`RenderConfig`) in ``scopes``."""
    if cls is None:
        from .config import RenderConfig

        cls = RenderConfig
    wanted = set(scopes)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        spec = f.metadata.get(_KEY)
        if isinstance(spec, OptionSpec) and spec.scope in wanted:
            yield dataclasses.replace(spec, name=f.name)


def form_options() -> dict[str, OptionSpec]:
    """The ``job`` options a server request may set, by form field name."""
    return {spec.name: spec for spec in iter_options(scopes=("job",)) if spec.form}


def env_values(scopes: Iterable[str] = SCOPES) -> dict[str, Any]:
    """Field -> value for every declared option whose environment variable is set."""
    out: dict[str, Any] = {}
    for spec in iter_options(scopes=scopes):
        raw = os.environ.get(spec.env) if spec.env else None
        if raw is not None and raw.strip():
            try:
                out[spec.name] = spec.parse(raw)
            except InvalidOptionError:
                raise InvalidOptionError(spec.env or spec.name, raw,
                                         hint=f"a value for {spec.cli_flag}") from None
    return out


def _help(spec: OptionSpec) -> str:
    text = spec.help
    if spec.env:
        text += f" (env {spec.env})"
    return text


def add_options(parser: argparse.ArgumentParser | Any, scopes: Iterable[str] = ("job", "model")
                ) -> list[str]:
    """Add an argparse option per declared option in ``scopes``; returns their dests.

    ``parser`` may be a parser or an argument group. Defaults are ``None``, so only what
    was given overrides the profile and the environment.
    """
    dests: list[str] = []
    for spec in iter_options(scopes=scopes):
        if not spec.cli:
            continue
        kw: dict[str, Any] = {"dest": spec.name, "default": None, "help": _help(spec)}
        if spec.flag_only:
            kw.update(action="store_const", const=True)
        else:
            if spec.action == "append":
                kw["action"] = "append"
            choices = spec.choice_list()
            if choices is not None:
                kw["choices"] = choices
            if spec.type is not None and choices is None:
                kw["type"] = spec.type
            if spec.metavar:
                kw["metavar"] = spec.metavar
        parser.add_argument(spec.cli_flag, **kw)
        dests.append(spec.name)
    parser.add_argument("--option", action="append", default=None, metavar="KEY=VALUE",
                        dest="option",
                        help="a stage option, e.g. svd_steps=12 or kenburns_backend=opencv "
                             "(repeatable; `musicvid plugins --options` lists them)")
    if "job" in set(scopes):
        parser.add_argument("--no-cache", action="store_true", dest="no_cache",
                            help="do not reuse or keep results")
    return dests


def parse_stage_option_args(items: Iterable[str] | None) -> dict[str, str]:
    """``["svd_steps=12", ...]`` -> ``{"svd_steps": "12"}`` (the stages parse the values)."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidOptionError("--option", item, hint="KEY=VALUE, e.g. svd_steps=12")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def overrides_from_args(args: argparse.Namespace, scopes: Iterable[str] = ("job", "model")
                        ) -> dict[str, Any]:
    """The options given on the command line (``None``: not given), as config fields."""
    out: dict[str, Any] = {}
    for spec in iter_options(scopes=scopes):
        value = getattr(args, spec.name, None)
        if value is not None:
            out[spec.name] = value
    stage = parse_stage_option_args(getattr(args, "option", None))
    if stage:
        out["options"] = stage
    if getattr(args, "no_cache", False):
        out["use_cache"] = False
    return out


def config_from_args(args: argparse.Namespace, scopes: Iterable[str] = ("job", "model"),
                     **extra: Any) -> RenderConfig:
    """Parsed arguments (from :func:`add_options`) -> a :class:`RenderConfig`."""
    from .config import RenderConfig

    overrides = overrides_from_args(args, scopes)
    profile = overrides.pop("profile", None)
    overrides.update(extra)
    return RenderConfig.create(profile=profile, **overrides)


def integer(text: str) -> int:
    """An integer in ASCII digits (``int()`` would also take ``"٧"`` or ``"1_000"``)."""
    if not isinstance(text, str) or not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise ValueError(text)
    return int(text.strip())
