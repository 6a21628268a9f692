"""``python -m musicvid_server [--host --port --data-dir ...]`` (same as ``musicvid serve``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from musicvid.errors import MissingDependencyError, MusicVidError

from .settings import add_server_options, settings_from_args

__all__ = ["build_parser", "main", "serve"]

log = logging.getLogger("musicvid_server")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m musicvid_server",
                                description="The musicvid web page and job API.")
    p.add_argument("-v", "--verbose", action="store_true", help="log each job and request")
    add_server_options(p)
    return p


def serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted; errors in the settings raise MusicVidError."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    verbose = bool(getattr(args, "verbose", False))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("musicvid_server").setLevel(logging.INFO)
    settings = settings_from_args(args)
    settings.check_binding()
    try:
        import uvicorn

        from .app import create_app
    except ImportError as exc:
        raise MissingDependencyError(
            f"the server needs the server extra ({exc.name} is missing): "
            "pip install 'musicvid[server]'") from None
    from .process import DataDirLock

    lock = DataDirLock(settings.data_dir)  # a friendly error before uvicorn starts
    lock.acquire()
    lock.release()
    app = create_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info",
                            access_log=verbose, timeout_graceful_shutdown=5,
                            **settings.uvicorn_options())
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return serve(args)
    except MusicVidError as exc:
        sys.stderr.write(f"musicvid-server: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
