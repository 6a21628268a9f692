"""The server's hook into the ``musicvid`` command: ``musicvid serve``.

Registered through the ``musicvid`` entry point group like any plugin, so the library
never imports its server. Only the standard library and :mod:`musicvid_server.settings`
load here: ``musicvid --help`` stays fast, and a missing server extra is reported when
``serve`` runs.
"""

from __future__ import annotations

import argparse

from musicvid import hookimpl

from .settings import add_server_options


def _serve(args: argparse.Namespace) -> int:
    from .__main__ import serve

    return serve(args)


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction,
                      parents: list[argparse.ArgumentParser]) -> None:
    sv = subparsers.add_parser("serve", help="run the web page and job API on "
                                             "http://localhost:8000", parents=parents)
    add_server_options(sv)
    sv.set_defaults(func=_serve)
