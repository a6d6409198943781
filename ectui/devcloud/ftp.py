"""The ISO share's FTP server: aioftp with 1 MiB blocks and a SIZE command."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import aioftp
from aioftp.server import ConnectionConditions, PathConditions, PathPermissions

from .defaults import FTP_PASSWORD, FTP_USER


class _Server(aioftp.Server):
    """aioftp's server plus SIZE (RFC 3659), which clients use to verify and resume uploads."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        """Configure the server; `start` listens."""
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.commands_mapping["size"] = self.size

    @ConnectionConditions(ConnectionConditions.login_required)
    @PathConditions(PathConditions.path_must_exists)
    @PathPermissions(PathPermissions.readable)
    async def size(self: aioftp.Server, connection: aioftp.Connection, rest: str | PurePosixPath, /) -> bool:
        real_path, _virtual = self.get_paths(connection, rest)
        if await connection.path_io.is_dir(real_path):
            connection.response("550", "SIZE: not a plain file")
            return True
        info = await connection.path_io.stat(real_path)
        connection.response("213", str(info.st_size))
        return True


class FtpServer:
    """A real FTP server on the ISO directory (user and password from defaults.py)."""

    def __init__(
        self, root: Path, *, block_size: int = 1 << 20, user: str = FTP_USER, password: str = FTP_PASSWORD
    ):
        """Configure the server; `start` listens."""
        self.root = root
        users = [
            aioftp.User(
                login=user,
                password=password,
                base_path=root,
                home_path="/",
                permissions=[aioftp.Permission("/", readable=True, writable=True)],
            )
        ]
        self._server = _Server(users, block_size=block_size, socket_timeout=60, idle_timeout=600)
        self.port = 0

    async def start(self, host: str, port: int = 0) -> int:
        """Listen; returns the bound port."""
        await self._server.start(host, port)
        self.port = int(self._server.address[1])
        return self.port

    async def stop(self) -> None:
        """Close the listener and the open sessions."""
        await self._server.close()
