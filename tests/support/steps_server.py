"""A CloudFaster server with the test step kind, for tests that kill and restart a real process.

Usage: python -m tests.support.steps_server DATABASE_URL DATA_DIR EFFECTS_DIR PORT
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from cloudfaster.api.app import create_app
from tests.support.app import make_settings
from tests.support.kinds import StepsKind


def main() -> None:
    """Serve until killed."""
    database_url, data_dir, effects, port = sys.argv[1:5]
    settings = make_settings(Path(data_dir), database_url)
    kind = StepsKind(Path(effects), delay_s=0.4)
    app = create_app(settings, kinds={kind.name: kind})
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning")


if __name__ == "__main__":
    main()
