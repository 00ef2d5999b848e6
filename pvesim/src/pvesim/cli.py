"""`pvesim --host 127.0.0.1 --port 8006 [--config cluster.yaml] [--state state.json]`."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from aiohttp import web

from pvesim.config import SimConfig
from pvesim.server import build_app
from pvesim.simulator import Simulator
from pvesim.tls import TlsFiles, make_certificates


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="pvesim", description="Proxmox VE API simulator")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8006, help="port to listen on (default 8006)")
    parser.add_argument("--config", type=Path, help="cluster definition (YAML)")
    parser.add_argument("--state", type=Path, help="JSON state file, loaded at start and kept up to date")
    parser.add_argument("--cert-dir", type=Path, help="where to write the generated CA and certificate")
    parser.add_argument("--cert", type=Path, help="use this server certificate (PEM) instead of generating one")
    parser.add_argument("--key", type=Path, help="private key for --cert")
    parser.add_argument("--ca", type=Path, help="CA file clients should verify against (defaults to --cert)")
    parser.add_argument("--fast", action="store_true", help="zero-length tasks and no 401 delay")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until interrupted."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = SimConfig.from_yaml(args.config) if args.config else SimConfig()
    if args.fast:
        fast = SimConfig.fast()
        config.task_durations = fast.task_durations
        config.default_task_duration = 0.0
        config.auth_failure_delay = 0.0
    if args.cert:
        if not args.key:
            sys.stderr.write("--cert needs --key\n")
            return 2
        tls = TlsFiles(args.ca or args.cert, args.cert, args.key)
    else:
        cert_dir = args.cert_dir or Path(tempfile.mkdtemp(prefix="pvesim-tls-"))
        tls = make_certificates(cert_dir)
    sim = Simulator(config, tls, args.state)
    token = config.tokens[0]
    sys.stdout.write(f"pvesim: https://{args.host}:{args.port}/api2/json" + "\n")
    sys.stdout.write(f"pvesim: CA file {tls.ca_file}" + "\n")
    sys.stdout.write(f"pvesim: token {token.token_id}={token.secret}" + "\n")
    sys.stdout.write(f"pvesim: nodes {', '.join(n.name for n in config.nodes)}" + "\n")
    sys.stdout.flush()
    web.run_app(
        build_app(sim),
        host=args.host,
        port=args.port,
        ssl_context=tls.server_context(),
        access_log=None,
        print=None,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
