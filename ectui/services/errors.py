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
    "validation.control_chars": N_("{field} must not contain tabs, line breaks or other control characters."),
    "validation.too_large": N_("{field} must be at most {max}, got {value}."),
    "validation.date": N_("{field} must be a date like 2026-12-31, got '{value}'."),
    "validation.decimal": N_("{field} must be a number like 1999.00, got '{value}'."),
    "validation.too_long": N_("{field} must be at most {max} characters."),
    "validation.choice": N_("{field} must be one of: {choices}; got '{value}'."),
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
    # long work
    "job.cancelled": N_("Cancelled by the operator."),
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

    def __str__(self) -> str:
        template = message_template(self.key)
        try:
            return template.format(**self.params)
        except (KeyError, IndexError, ValueError):
            return template


class ValidationError(ServiceError):
    """Bad input: a field value that cannot be used; says which field and how to fix it."""

    exit_code = 2

    def __init__(self, key: str, *, field: str = "", **params: Any) -> None:
        super().__init__(key, field=field, **params)
        self.field = field


class IssuerError(ServiceError):
    """A refused issuer operation."""


class LicenseError(ServiceError):
    """A refused license import or a license that does not allow an operation."""


class ReadOnlyError(ServiceError):
    """The console is read-only (no valid license, expired, clock rolled back, or --readonly)."""
