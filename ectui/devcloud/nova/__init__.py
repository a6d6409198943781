"""Nova v2.1 subset with microversions: flavors, servers and their actions, hypervisors, zones, quotas.

Vendor extensions (probe them with ``GET /compute/v2.1/extensions``):
``liveResize`` (hot CPU/RAM resize for flavors with ``hw:live_resize``) and
``attachCdrom``/``detachCdrom`` (mount an ISO of the FTP share as the server's CD-ROM).

One module a part of the API, as the real Nova organises it; `app.Nova` combines them and holds the
routing table.
"""

from __future__ import annotations

from .app import Nova

__all__ = ["Nova"]
