"""A real CloudFaster server process pointed at a pvesim, for tests that kill and restart it.

Usage: python -m tests.vms.vm_server DATABASE_URL DATA_DIR PORT PVE_PORT CA_FILE TOKEN_ID TOKEN_SECRET
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from cloudfaster.api.app import create_app
from tests.support.app import make_settings


def main() -> None:
    """Serve until killed."""
    database_url, data_dir, port, pve_port, ca_file, token_id, token_secret = sys.argv[1:8]
    nodes = [{"name": f"sv{i}", "host": "127.0.0.1", "port": int(pve_port)} for i in range(1, 6)]
    proxmox = {
        "nodes": nodes, "ca_file": ca_file, "token_id": token_id, "token_secret": token_secret,
        "task_poll_interval_s": 0.05, "reconcile_interval_s": 3600,
    }  # fmt: skip
    settings = make_settings(Path(data_dir), database_url, proxmox=proxmox)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=int(port), log_level="warning")


if __name__ == "__main__":
    main()
