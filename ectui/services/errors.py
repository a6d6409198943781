"""Domain errors: a message key plus parameters, rendered in the UI language by ectui.i18n.render."""

from __future__ import annotations

from typing import Any

from ectui.i18n import N_

MESSAGES: dict[str, str] = {
    # generic
    "validation.required": N_("{field} is required."),
    "validation.int": N_("{field} must be a whole number, got '{value}'."),
    "validation.non_negative": N_("{field} must be 0 or more, got {value}."),
    "validation.positive": N_("{field} must be at least 1, got {value}."),
    "validation.db_url": N_(
        "{field} is not a valid database URL (e.g. sqlite:////path/ectui.db or postgresql://user@host/db)."
    ),
    # database faults (ectui.db.errors): {where} is a file path or host:port/name, never the URL
    "db.read_only": N_(
        "The database {where} is read-only, so the change was not saved; make it writable (chmod u+w for a "
        "file) and try again."
    ),
    "db.read_only_upgrade": N_(
        "The database {where} is read-only and needs an upgrade to this version of ectui; make it writable "
        "(chmod u+w for a file) for one start."
    ),
    "db.locked": N_(
        "The database {where} is locked by another writer (waited {seconds} s); try again when it has "
        "finished, or wait longer with ECTUI_DB_BUSY_TIMEOUT=seconds."
    ),
    "db.too_new": N_(
        "The database {where} has schema {revision}, made by a newer ectui; upgrade ectui to use it."
    ),
    "db.not_a_database": N_(
        "{where} is not a database or is damaged; restore it from a backup or choose another database file."
    ),
    "db.unreachable": N_(
        "The database server {where} cannot be reached ({reason}); check that it runs and the database URL."
    ),
    "db.auth_failed": N_(
        "The database server {where} refused the login; check the user name and password of the database URL."
    ),
    "db.unsupported_url": N_(
        "The database URL ({scheme}://…) is not supported or its driver is not installed; use "
        "sqlite:////path/ectui.db or postgresql://user@host/db."
    ),
    "db.no_directory": N_(
        "The directory {path} of the database file does not exist; create it or choose another path."
    ),
    "db.failed": N_("The database {where} cannot be used: {reason}"),
    "validation.control_chars": N_("{field} must not contain tabs, line breaks or other control characters."),
    "validation.too_large": N_("{field} must be at most {max}, got {value}."),
    "validation.date": N_("{field} must be a date like 2026-12-31, got '{value}'."),
    "validation.decimal": N_("{field} must be a number like 1999.00, got '{value}'."),
    "validation.too_long": N_("{field} must be at most {max} characters."),
    "validation.file_too_large": N_(
        "{field}: {path} is larger than {max} bytes; refused without reading further."
    ),
    "validation.not_regular_file": N_(
        "{field}: {path} is not a regular file (a directory, pipe or device cannot be read); give a file."
    ),
    "validation.line_too_long": N_(
        "{field}: no line end within the first {max} bytes of standard input; refused."
    ),
    "validation.not_text": N_("{field}: the input is not valid {encoding} text."),
    "validation.choice": N_("{field} must be one of: {choices}; got '{value}'."),
    "validation.column": N_("{field}: no column '{value}'; the columns are: {choices}."),
    "validation.date_order": N_("Valid to ({valid_to}) must not be before valid from ({valid_from})."),
    "readonly.flag": N_(
        "The console was started read-only (--readonly); restart without it to make changes."
    ),
    # issuer
    "issuer.edition_exists": N_("An edition named '{name}' already exists; choose another name."),
    "issuer.edition_not_found": N_("No edition named '{name}'. List them with: ectui issuer edition list"),
    "issuer.edition_in_use": N_("Edition '{name}' is used by {count} license(s); delete or move them first."),
    "issuer.no_features": N_("Choose at least one feature menu for the edition."),
    "issuer.unknown_feature": N_("Unknown feature '{code}'. Known modules: {choices}."),
    "issuer.storage_required": N_("Choose at least one storage mode (local, shared)."),
    "issuer.license_not_found": N_("No license with id {id}. List them with: ectui issuer license list"),
    "issuer.key_locked": N_(
        "The issuer keys cannot be unlocked: {reason}. Check ECTUI_ISSUER_PASSPHRASE or the key file."
    ),
    "issuer.write_failed": N_("Cannot write {path}: {reason}"),
    # license file / console
    "license.not_ec": N_("This is not an .ec license file."),
    "license.truncated": N_("The license file is truncated or incomplete; download it again."),
    "license.unsupported_format": N_(
        "License format {version} is not supported by this console; upgrade ectui."
    ),
    "license.tampered": N_(
        "The license file has been modified after it was issued (signature check failed)."
    ),
    "license.foreign_issuer": N_(
        "The license was signed by another issuer, not the one this console trusts."
    ),
    "license.wrong_key": N_(
        "The license was issued for another installation: its key does not match constant.properties."
    ),
    "license.malformed": N_("The license document inside the file is malformed: {reason}"),
    "license.expired": N_("The license expired on {valid_to}."),
    "license.not_yet_valid": N_("The license is not valid before {valid_from}."),
    "license.file_missing": N_("Cannot read {path}: {reason}"),
    "license.properties_missing": N_(
        "No constant.properties at {path}. Give the properties file exported by the issuer with the .ec file."
    ),
    "license.properties_invalid": N_("{path} is not a valid constant.properties file: {reason}"),
    "license.none": N_(
        "No license is installed. Import one with 'i' on the License screen or: ectui license import FILE.ec"
    ),
    "license.expired_readonly": N_("The license expired on {valid_to}. Import a renewed license."),
    "license.clock_rollback": N_(
        "The system clock ({now}) is behind the last time seen ({last_seen}); fix the clock."
    ),
    "license.reset_clock_confirm": N_(
        "The last time seen is {last_seen} and the system clock says {now}. Resetting moves the mark back to "
        "the system clock, so check that the clock is right first; then run again with --yes."
    ),
    "license.limit_clusters": N_(
        "The license allows {max} cluster(s) and {used} are configured; remove one or import a license "
        "of an edition with more clusters."
    ),
    "license.limit_nodes": N_(
        "The license allows {max} compute node(s); adding {adding} would make {total}. Import a license "
        "of an edition with more nodes."
    ),
    "license.storage_mode": N_(
        "The license does not allow {mode} storage (allowed: {allowed}); choose another mode or import a "
        "license of an edition with it."
    ),
    "license.feature_disabled": N_("The '{feature}' feature is not in this license's edition ({edition})."),
    # audit log: hash chain (tamper evidence)
    "audit.chain_changed": N_(
        "The audit log was tampered with: entry {id} was changed after it was written (its hash does not match)."
    ),
    "audit.chain_gap": N_(
        "The audit log was tampered with: the chain breaks at entry {id}, which does not follow entry {after} "
        "(entries between them were deleted, or one was slipped in)."
    ),
    "audit.chain_start": N_(
        "The audit log was tampered with: the chain breaks at entry {id}, the first one left (earlier entries "
        "were deleted)."
    ),
    "audit.chain_truncated": N_(
        "The audit log was tampered with: entry {id}, the newest one written, is missing (entries after {last} "
        "were deleted)."
    ),
    "audit.chain_head_missing": N_(
        "The audit log was tampered with: the record of its newest entry is missing, so entries after {id} "
        "may have been deleted."
    ),
    # operator accounts
    "users.login_refused": N_(
        "Unknown user or wrong password. After {failures} failed logins in a row an account is locked for "
        "{minutes} min; an admin can unlock it."
    ),
    # long work
    "job.cancelled": N_("Cancelled by the operator."),
    # operations whose rollback could not reach the cloud (services/operations)
    "operation.cleanup_pending": N_(
        "Cleanup pending: {reason} The rollback could not reach the cloud ({leftovers}). It is retried at "
        "the next start and by 'ectui ops resume'; any quota it reserved stays reserved until the cloud "
        "confirms everything is gone."
    ),
    "operation.stopped": N_("The console stopped while step '{field}' ran."),
    "vm.create_cleanup_pending": N_(
        "Creating VM {name} failed at step '{field}': {reason} The rollback could not reach the cloud "
        "({leftovers}); it is retried at the next start and by 'ectui ops resume', and the quota stays "
        "reserved until the cloud confirms everything is gone."
    ),
    "resize.cleanup_pending": N_(
        "Resizing VM {name} failed at step '{step}': {reason} The rollback could not reach the cloud "
        "({leftovers}); it is retried at the next start and by 'ectui ops resume', and the VM stays locked "
        "and its quota reserved until then."
    ),
    "image.upload_recovered": N_(
        "The upload of '{name}' was interrupted; its half-made image was deleted from the cloud ({images})."
    ),
    "image.upload_cleanup_pending": N_(
        "Upload of '{name}' failed: {reason} The half-made image could not be deleted because the cloud "
        "is unreachable ({cleanup}); it is deleted at the next start or by 'ectui ops resume'."
    ),
    # clusters and clouds
    "cluster.bad_name": N_(
        "{field} '{value}' is not valid: use letters, digits, '-', '_' or '.', starting with a letter or digit."
    ),
    "cluster.bad_url": N_(
        "{field} '{value}' is not an http:// or https:// URL (e.g. https://keystone:5000/v3)."
    ),
    "cluster.cacert_and_insecure": N_("Give either a CA file or --insecure, not both."),
    "cluster.no_cacert": N_("CA file {path} does not exist."),
    "cluster.no_cloud_entry": N_(
        "No cloud named '{cloud}' in clouds.yaml (looked in OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack, /etc/openstack)."
    ),
    "cluster.bad_dir": N_("{field} must be an absolute path like /iso, got '{value}'."),
    "cluster.exists": N_("A cluster named '{name}' already exists; choose another name."),
    "cluster.not_found": N_("No cluster named '{name}'. List them with: ectui cluster list"),
    "cluster.ftp_missing": N_(
        "Cluster '{name}' has no FTP settings; set them with: ectui cluster ftp {name} ..."
    ),
    "cloud.config": N_("The cloud configuration is incomplete: {reason}"),
    "cloud.tls": N_("TLS failed: {reason}. Give the cloud's CA file, or --insecure for a test cloud."),
    "cloud.unreachable": N_("The cloud is unreachable: {reason}"),
    "cloud.auth_failed": N_("Authentication failed: check the user name, password, project and domains."),
    "cloud.missing_service": N_("The cloud's catalog has no {service} service."),
    "cloud.http": N_("The cloud refused the request (HTTP {status}): {reason}"),
    "cloud.request_failed": N_("The cloud request failed: {reason}"),
    "ftp.no_dir": N_("The FTP server has no directory {dir}."),
    "ftp.auth_failed": N_("FTP login failed for user {user}: check the user name and password."),
    "ftp.unreachable": N_("The FTP server {host}:{port} is unreachable: {reason}"),
    # FTP listings and replies from a server that may be broken or hostile (ectui.services.ftp)
    "ftp.listing_timeout": N_(
        "The FTP server did not finish the directory listing within the {seconds} s listing deadline; "
        "check that the FTP server is healthy and sync again."
    ),
    "ftp.listing_too_many": N_(
        "The FTP directory listing has more than {max} entries (the entry cap); move files out of the "
        "ISO directory and sync again."
    ),
    "ftp.listing_line_too_long": N_(
        "The FTP directory listing has a line longer than {max} bytes (the line cap); check that the "
        "server is a standard FTP server."
    ),
    "ftp.listing_too_large": N_(
        "The FTP directory listing is larger than {max} bytes (the listing size cap); move files out of "
        "the ISO directory and sync again."
    ),
    "ftp.bad_reply": N_(
        "The FTP server sent a reply longer than {max} bytes (the reply cap) or not in UTF-8; check that "
        "the server is a standard FTP server."
    ),
    "ftp.error": N_("The FTP server refused: {reason}"),
}


def register_messages(messages: dict[str, str]) -> None:
    """Add the message templates of a service module (keys are '<domain>.<reason>', marked with N_)."""
    for key, template in messages.items():
        if MESSAGES.get(key, template) != template:
            raise ValueError(f"message key {key} is already registered with another text")
        MESSAGES[key] = template


def message_template(key: str) -> str:
    """The English template of a message key (the key itself when unknown)."""
    return MESSAGES.get(key, key)


class ServiceError(Exception):
    """An expected failure with a message key and parameters; never carries secrets."""

    exit_code = 1

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    @property
    def template(self) -> str:
        """The English template of the message (rendered in the UI language by ectui.i18n.render)."""
        return message_template(self.key)

    def __str__(self) -> str:
        template = self.template
        try:
            return template.format(**self.params)
        except (KeyError, IndexError, ValueError):
            return template


class ValidationError(ServiceError):
    """Bad input: a field value that cannot be used; says which field and how to fix it."""

    exit_code = 2

    def __init__(self, key: str, *, field: str = "", field_id: str = "", **params: Any) -> None:
        super().__init__(key, field=field, **params)
        self.field = field
        """The field's label as the message names it (translated when shown)."""
        self.field_id = field_id
        """The field's stable id (e.g. 'cpu', 'password_confirm'): what a form maps to its widget."""


class IssuerError(ServiceError):
    """A refused issuer operation."""


class LicenseError(ServiceError):
    """A refused license import or a license that does not allow an operation."""


class ReadOnlyError(ServiceError):
    """The console is read-only (no valid license, expired, clock rolled back, or --readonly)."""
