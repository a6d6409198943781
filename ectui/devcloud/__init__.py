"""The built-in dev cloud: a local OpenStack-API server (Keystone, Glance, Nova, Neutron) plus FTP.

Driven by the real openstacksdk and ``openstack`` CLI over HTTP on loopback; see docs/devcloud.md.
Nothing is imported here at import time beyond the names below, and no Textual.
"""

from __future__ import annotations

from .core import Timings
from .faults import Fault
from .server import DevCloud, DevCloudHandle, run_in_thread

__all__ = ["DevCloud", "DevCloudHandle", "Fault", "Timings", "run_in_thread"]
