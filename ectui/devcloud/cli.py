"""Command line of the dev cloud: ``ectui devcloud`` (serve) and ``ectui devcloud fault`` (arm a fault).

The lead wires it into ectui/cli.py with ``register(sub)`` and ``run(args)``; ``python -m ectui.devcloud``
works on its own. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_REFUSED = 1


def default_state_dir() -> Path:
    """``$ECTUI_HOME/devcloud``, else the user data dir of ectui plus ``devcloud``."""
    home = os.environ.get("ECTUI_HOME")
    if home:
        return Path(home) / "devcloud"
    import platformdirs

    return Path(platformdirs.user_data_dir("ectui")) / "devcloud"


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``devcloud`` command (and its ``fault`` subcommand) to an argparse subparsers object."""
    from ectui.i18n import _

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "devcloud", help=_("run the built-in dev cloud (OpenStack APIs + FTP on loopback)")
    )
    _add_serve_options(parser)
    sub = parser.add_subparsers(dest="devcloud_command", parser_class=type(parser))
    fault = sub.add_parser("fault", help=_("arm, list or clear faults of a running dev cloud"))
    fault.add_argument(
        "--url", required=True, help=_("base URL of the dev cloud, e.g. http://127.0.0.1:8774")
    )
    fault.add_argument("--op", help=_("operation, e.g. compute.resize, image.upload"))
    fault.add_argument("--times", type=int, default=1, help=_("how many calls it hits (0: until cleared)"))
    fault.add_argument("--status", type=int, help=_("HTTP error status to answer (e.g. 500)"))
    fault.add_argument("--delay", type=float, default=0.0, help=_("seconds to wait first"))
    fault.add_argument("--drop-after-bytes", type=int, help=_("uploads: cut the connection after N bytes"))
    fault.add_argument("--mode", choices=["silent"], help=_("silent: fail without an HTTP error"))
    fault.add_argument("--message", help=_("error message to answer"))
    fault.add_argument("--list", action="store_true", help=_("list the armed faults"))
    fault.add_argument("--clear", action="store_true", help=_("disarm every fault"))
    return parser


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    from ectui.i18n import _

    parser.add_argument("--host", default="127.0.0.1", help=_("address to listen on (default 127.0.0.1)"))
    parser.add_argument("--port", type=int, default=0, help=_("HTTP port (default: a free one)"))
    parser.add_argument("--ftp-port", type=int, default=0, help=_("FTP port (default: a free one)"))
    parser.add_argument("--state", type=Path, help=_("state directory (default: $ECTUI_HOME/devcloud)"))
    parser.add_argument(
        "--seed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=_("seed an empty state (default: yes)"),
    )
    parser.add_argument(
        "--fast", action="store_true", help=_("short transitions (0.2 s) instead of realistic ones")
    )


def run(args: argparse.Namespace) -> int:
    """Run the parsed ``devcloud`` command; returns the exit status."""
    if getattr(args, "devcloud_command", None) == "fault":
        return _fault(args)
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from .core import Timings
    from .server import DevCloud

    state = Path(args.state) if args.state else default_state_dir()
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"ectui devcloud: cannot create state dir {state}: {err.strerror}", file=sys.stderr)
        return EXIT_REFUSED
    timings = Timings.fast(0.2) if args.fast else Timings()
    cloud = DevCloud(state, timings=timings, seed=args.seed, ftp_port=args.ftp_port)

    async def serve() -> None:
        await cloud.start(args.host, args.port)
        clouds_path, ftp_path = cloud.write_client_files()
        print(f"# dev cloud on {cloud.url} (state {state}); FTP on {cloud.host}:{cloud.ftp_port}")
        print(
            f"# wrote {clouds_path} and {ftp_path}; use OS_CLIENT_CONFIG_FILE={clouds_path} OS_CLOUD=devcloud"
        )
        print(clouds_path.read_text(), end="", flush=True)
        stopped = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # elsewhere Ctrl-C still works
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
        try:
            await stopped.wait()
        finally:
            await cloud.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return 0
    except OSError as err:
        print(
            f"ectui devcloud: cannot listen on {args.host}:{args.port}: {err.strerror or err}",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    except Exception as err:  # one line, no traceback
        print(f"ectui devcloud: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_REFUSED
    return 0


def _fault(args: argparse.Namespace) -> int:
    url = args.url.rstrip("/") + "/_admin/faults"
    if args.list:
        method, body = "GET", None
    elif args.clear:
        method, body = "DELETE", None
    elif not args.op:
        print("ectui devcloud fault: --op is required (or --list / --clear)", file=sys.stderr)
        return EXIT_REFUSED
    else:
        spec: dict[str, Any] = {"op": args.op, "times": args.times, "delay": args.delay}
        for key in ("status", "drop_after_bytes", "mode", "message"):
            if getattr(args, key) is not None:
                spec[key] = getattr(args, key)
        method, body = "POST", json.dumps(spec).encode()
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace").strip()
        print(f"ectui devcloud fault: {err.code} from {url}: {detail}", file=sys.stderr)
        return EXIT_REFUSED
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        print(f"ectui devcloud fault: cannot reach {url}: {reason}", file=sys.stderr)
        return EXIT_REFUSED
    if raw:
        print(json.dumps(json.loads(raw), indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ectui.devcloud ...``: the same command without the rest of ectui."""
    parser = argparse.ArgumentParser(prog="ectui")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["devcloud", *(sys.argv[1:] if argv is None else argv)])
    return run(args)
