"""``cf service`` against a real server and Docker: a ZIP site created, its logs followed, deleted; and a 200 MB
ZIP uploaded with the CLI's resident memory measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx

from tests.cli.server import CF, Server

RSS_LIMIT_MB = 100


def test_service_from_zip_logs_and_delete(server: Server, tmp_path: Path) -> None:
    site = tmp_path / "site.zip"
    with zipfile.ZipFile(site, "w") as zf:
        zf.writestr("index.html", "<h1>hello from cf</h1>")
    created = server.cf("service", "create", "cli-site", "--type", "static", "--zip", str(site), "--wait", "-o", "json")
    assert created.returncode == 0, created.stderr
    service = json.loads(created.stdout)
    assert service["status"] == "running", service

    follow = subprocess.Popen(
        [str(CF), "service", "logs", str(service["id"]), "-f"], env=server.env(), stdout=subprocess.PIPE, text=True
    )
    try:
        for url in service["urls"].values():
            httpx.get(url, timeout=5)
        assert follow.stdout is not None
        line = follow.stdout.readline()
        assert line.strip(), "no log line followed"
    finally:
        follow.terminate()
        follow.wait(timeout=10)

    with zipfile.ZipFile(site, "w") as zf:
        zf.writestr("index.html", "<h1>second version</h1>")
    deployed = server.cf("service", "deploy", str(service["id"]), "--zip", str(site), "--wait", "-o", "json")
    assert deployed.returncode == 0, deployed.stderr
    site_url = next(url for name, url in service["urls"].items() if name != "files")
    assert "second version" in httpx.get(site_url, timeout=10).text

    deleted = server.cf("service", "delete", str(service["id"]), "--wait", "-o", "json")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["status"] == "deleted"


def test_a_200_mb_zip_upload_keeps_the_cli_under_100_mb(server: Server, tmp_path: Path) -> None:
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as zf, zf.open("blob.bin", "w", force_zip64=True) as out:
        for _ in range(195):  # 204 MB: under the server's 200 MiB body limit
            out.write(os.urandom(1024 * 1024))
    assert big.stat().st_size > 200_000_000
    # A fresh interpreter whose only child is cf, so that RUSAGE_CHILDREN is cf's own peak RSS.
    measure = (
        "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)"
    )
    argv = [sys.executable, "-c", measure, str(CF), "service", "create", "big-site", "--type", "static",
            "--zip", str(big), "--no-wait", "-o", "json"]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(argv, env=server.env(), capture_output=True, text=True, timeout=300, check=False)
    elapsed = time.monotonic() - started
    rss_kb, rc = result.stdout.strip().splitlines()[-1].split()
    print(f"200 MB ZIP upload through cf: peak RSS {int(rss_kb) / 1024:.1f} MB, {elapsed:.1f} s")
    assert rc == "0", result.stderr
    body = json.loads("\n".join(result.stdout.strip().splitlines()[:-1]))
    assert int(rss_kb) / 1024 < RSS_LIMIT_MB
    server.cf("op", "watch", body["operation"]["id"], "-o", "json")
    assert server.cf("service", "delete", str(body["id"]), "--wait").returncode == 0
