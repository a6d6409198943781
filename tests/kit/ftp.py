"""A real FTP server for the ISO tests: pyftpdlib in a thread on a free loopback port."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ectui.services.clusters import FtpDraft

USER, PASSWORD = "iso", "iso-secret"


class PyFtpd:
    """A pyftpdlib FTP server in a thread; counts the bytes it receives and can drop data connections."""

    def __init__(self, root: Path, *, mlsd: bool = True, rest: bool = True, perm: str = "elradfmwMT") -> None:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import DTPHandler, FTPHandler
        from pyftpdlib.servers import FTPServer

        logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
        self.root = root
        self.received = 0
        """Bytes received on data connections since the last reset."""
        self.drop_after: int | None = None
        """Close the next data connection once this many bytes arrived (a cut connection)."""
        owner = self

        class CountingDTP(DTPHandler):
            def handle_read(self) -> None:
                before = self.tot_bytes_received
                super().handle_read()
                owner.received += self.tot_bytes_received - before
                limit = owner.drop_after
                if limit is not None and self.tot_bytes_received >= limit:
                    owner.drop_after = None
                    self._resp = ("426 Connection closed; transfer aborted.", logging.info)
                    self.close()

            handle_read_event = handle_read

        authorizer = DummyAuthorizer()
        authorizer.add_user(USER, PASSWORD, str(root), perm=perm)
        commands = dict(FTPHandler.proto_cmds)
        if not mlsd:
            commands.pop("MLSD", None)
            commands.pop("MLST", None)
        if not rest:
            commands.pop("REST", None)
        handler = type(
            "Handler",
            (FTPHandler,),
            {
                "authorizer": authorizer,
                "dtp_handler": CountingDTP,
                "proto_cmds": commands,
                "banner": "pyftpdlib",
                "auth_failed_timeout": 0,
            },
        )
        self.server = FTPServer(("127.0.0.1", 0), handler)
        self.port = int(self.server.address[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pyftpdlib", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self.server.ioloop.loop(timeout=0.02, blocking=False)
        self.server.close_all()

    def settings(self, iso_dir: str = "/") -> FtpDraft:
        """FTP settings of a cluster on this server."""
        return FtpDraft("127.0.0.1", self.port, USER, PASSWORD, iso_dir)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
