"""Settings: where ectui keeps its config, data and logs, and which database it uses."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

APP_NAME = "ectui"


def _platform_dirs() -> tuple[Path, Path, Path]:
    import platformdirs

    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    return Path(dirs.user_config_dir), Path(dirs.user_data_dir), Path(dirs.user_log_dir)


@dataclass(frozen=True)
class Settings:
    """Paths and options of one run; built by :meth:`from_env`, never at import time."""

    config_dir: Path
    """Holds constant.properties, the master key files and user settings."""
    data_dir: Path
    """Holds the SQLite databases (console and issuer are separate files)."""
    log_dir: Path
    """Holds ectui.log; secrets never reach it."""
    db_url: str | None = None
    """SQLAlchemy URL of the console database; None means SQLite in data_dir."""
    issuer_db_url: str | None = None
    """SQLAlchemy URL of the issuer database; None means SQLite in data_dir."""
    lang: str = "en"
    """UI language: 'en' or 'zh_CN'."""
    issuer_passphrase: str | None = field(default=None, repr=False)
    """When set, the issuer's private keys are protected by this passphrase instead of a key file."""
    operator: str = ""
    """Who is at the keyboard (ECTUI_OPERATOR, else the OS user): recorded on uploads and changes."""
    trusted_issuers_env: str = ""
    """ECTUI_TRUSTED_ISSUER_KEYS: comma-separated base64 issuer verification keys the console accepts."""
    db_busy_timeout: float = 30.0
    """ECTUI_DB_BUSY_TIMEOUT: seconds to wait for another writer's lock before the database counts as locked."""

    @classmethod
    def from_env(
        cls,
        env: dict[str, str] | None = None,
        *,
        db_url: str | None = None,
        lang: str | None = None,
    ) -> Settings:
        """Read ECTUI_HOME, ECTUI_DB_URL, ECTUI_ISSUER_DB_URL, ECTUI_DB_BUSY_TIMEOUT, ECTUI_LANG/LANG and
        ECTUI_ISSUER_PASSPHRASE."""
        env = dict(os.environ if env is None else env)
        home = env.get("ECTUI_HOME")
        if home:
            root = Path(home).expanduser()
            config_dir, data_dir, log_dir = root / "config", root / "data", root / "logs"
        else:
            config_dir, data_dir, log_dir = _platform_dirs()
        return cls(
            config_dir=config_dir,
            data_dir=data_dir,
            log_dir=log_dir,
            db_url=db_url or env.get("ECTUI_DB_URL") or None,
            issuer_db_url=env.get("ECTUI_ISSUER_DB_URL") or None,
            lang=normalize_lang(
                lang or env.get("ECTUI_LANG") or env.get("LC_ALL") or env.get("LANG") or "en"
            ),
            issuer_passphrase=env.get("ECTUI_ISSUER_PASSPHRASE") or None,
            trusted_issuers_env=env.get("ECTUI_TRUSTED_ISSUER_KEYS", ""),
            operator=env.get("ECTUI_OPERATOR") or _os_user(),
            db_busy_timeout=_seconds(env.get("ECTUI_DB_BUSY_TIMEOUT"), 30.0),
        )

    def trusted_issuer_keys(self) -> list[str]:
        """Base64 Ed25519 keys of the issuers whose licenses this console accepts (empty: pin the first).

        Read from ECTUI_TRUSTED_ISSUER_KEYS (comma-separated), <config>/trusted-issuers and the
        package's trusted_issuers.txt (one key per line, '#' comments); the vendor fills the latter.
        """
        keys = [k.strip() for k in (self.trusted_issuers_env or "").split(",") if k.strip()]
        for path in (self.config_dir / "trusted-issuers", Path(__file__).parent / "trusted_issuers.txt"):
            with contextlib.suppress(OSError):
                for line in path.read_text(encoding="utf-8").splitlines():
                    line = line.split("#", 1)[0].strip()
                    if line:
                        keys.append(line)
        return keys

    @property
    def demo_home(self) -> Path:
        """The demo's own home (`ectui --demo`): <data dir>/demo/home, never the operator's files."""
        return self.data_dir / "demo" / "home"

    def for_demo(self) -> Settings:
        """Settings of the demo: config, data (SQLite), keys, trust and logs all under :attr:`demo_home`.

        The operator's database URLs, trusted issuer keys and issuer passphrase are not carried over:
        the demo's license is signed by its own local issuer, trusted in its home only.
        """
        root = self.demo_home
        return replace(
            self,
            config_dir=root / "config",
            data_dir=root / "data",
            log_dir=root / "logs",
            db_url=None,
            issuer_db_url=None,
            issuer_passphrase=None,
            trusted_issuers_env="",
        )

    def with_changes(self, **changes: object) -> Settings:
        """Return a copy with some fields replaced."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def console_db_url(self) -> str:
        """The console database URL (SQLite file in data_dir unless configured)."""
        return self.db_url or f"sqlite:///{self.data_dir / 'console.db'}"

    @property
    def issuer_url(self) -> str:
        """The issuer database URL; never the console's."""
        return self.issuer_db_url or f"sqlite:///{self.data_dir / 'issuer.db'}"

    @property
    def properties_path(self) -> Path:
        """Default constant.properties of this console installation."""
        return self.config_dir / "constant.properties"

    @property
    def issuer_key_file(self) -> Path:
        """The issuer's master key file (0600) protecting private keys at rest."""
        return self.config_dir / "issuer-master.key"

    @property
    def keymap_path(self) -> Path:
        """keymap.toml: binding id → keys (`"vms.start" = "S"`), applied when the TUI starts."""
        return self.config_dir / "keymap.toml"

    @property
    def console_key_file(self) -> Path:
        """The console's master key file (0600) protecting secrets at rest."""
        return self.config_dir / "console-master.key"

    def ensure_dirs(self) -> None:
        """Create the config, data and log directories (config and data are private to the owner)."""
        for path in (self.config_dir, self.data_dir, self.log_dir):
            path.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            self.config_dir.chmod(0o700)
        with contextlib.suppress(OSError, AttributeError):  # the databases' directory: only when it is ours
            info = self.data_dir.stat()
            if info.st_uid == os.geteuid() and info.st_mode & 0o077:
                self.data_dir.chmod(0o700)


def _seconds(value: str | None, default: float) -> float:
    """A number of seconds from the environment; the default when unset or not a number >= 0."""
    try:
        seconds = float(value) if value else default
    except ValueError:
        return default
    return seconds if 0 <= seconds < float("inf") else default


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "operator"


def normalize_lang(value: str) -> str:
    """Map 'zh_CN.UTF-8', 'zh-cn', 'zh' to 'zh_CN'; anything else to 'en'."""
    code = value.split(".")[0].split("@")[0].replace("-", "_").lower()
    if code.startswith("zh"):
        return "zh_CN"
    return "en"


def configure_logging(settings: Settings) -> None:
    """Send all logging (ours and the libraries') to log_dir/ectui.log, never to the terminal.

    Library warnings printed on stderr would scribble over the full-screen UI. Request bodies
    (which carry passwords) are logged by keystoneauth only at DEBUG, below the level used here.
    """
    import logging
    import logging.handlers

    settings.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        settings.log_dir / "ectui.log", maxBytes=5_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)  # the --debug HTTP trace goes to stderr only, never into the file
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    with contextlib.suppress(OSError):
        (settings.log_dir / "ectui.log").chmod(0o600)


DEBUG_LOGGERS = ("keystoneauth", "openstack")
"""Loggers whose DEBUG records trace the HTTP requests and responses to the clouds (shown by --debug)."""
SECRET_NAMES = r"[\w.-]*(?:password|passwd|adminpass|secret|token|credential)[\w.-]*"
"""A header, JSON key or query parameter with one of these words in its name holds a secret."""


def mask_secrets(text: str) -> str:
    """`text` with the values of secret-named headers, JSON/dict keys and query parameters replaced by ***.

    Covers X-Auth-Token / X-Subject-Token headers (keystoneauth logs only their SHA-256, masked too),
    Authorization, passwords in Keystone auth bodies, adminPass in Nova responses, and any key named
    like password/secret/token.
    """
    import re

    flags = re.IGNORECASE
    # "key": "value" and 'key': 'value' (JSON bodies, dict reprs); only string values, nested objects stay
    text = re.sub(
        rf"""(["'])({SECRET_NAMES})\1(\s*:\s*)(["'])(?:\\.|(?!\4).)*\4""",
        lambda m: f"{m[1]}{m[2]}{m[1]}{m[3]}{m[4]}***{m[4]}",
        text,
        flags=flags,
    )
    # headers: 'X-Auth-Token: value' (curl -H "…", response headers) and 'Authorization: Bearer value'
    text = re.sub(
        rf"""(\b(?:{SECRET_NAMES}|authorization)\s*:\s*)(?!["'])(?:(?:bearer|basic)\s+)?[^\s"',;]+""",
        r"\1***",
        text,
        flags=flags,
    )
    # query strings and forms: token=value
    return re.sub(rf"(\b{SECRET_NAMES}=)[^&\s\"']+", r"\1***", text, flags=flags)


def configure_debug_logging(*, to_stderr: bool = True) -> None:
    """--debug: the clouds' HTTP requests and responses (method, URL, status, headers, bodies), secrets masked.

    On stderr for a command; for the full-screen console (`to_stderr=False`) into ectui.log instead, since
    stderr would scribble over the screen. Call after configure_logging.
    """
    import logging
    import sys

    mask = SecretMask()
    if to_stderr:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("DEBUG %(name)s: %(message)s"))
        handler.setLevel(logging.DEBUG)
        handler.addFilter(mask)
        for name in DEBUG_LOGGERS:
            logging.getLogger(name).addHandler(handler)
    else:
        for handler in logging.getLogger().handlers:
            handler.setLevel(logging.DEBUG)
            handler.addFilter(mask)
    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)


class SecretMask:
    """A logging filter (duck-typed logging.Filter) that masks secrets in every record it passes."""

    def filter(self, record: object) -> bool:
        import logging

        assert isinstance(record, logging.LogRecord)
        try:
            message = record.getMessage()
        except Exception:  # a broken record: let logging report it as it would
            return True
        masked = mask_secrets(message)
        if record.exc_info and not record.exc_text:  # a traceback may quote a request body
            record.exc_text = mask_secrets(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        record.msg, record.args = masked, ()
        return True
