"""`python -m devtools.dataverse_emulator --host 127.0.0.1 --port 7072 [--token T] [--seed F] [--data F]
[--tls --data-dir DIR]`: serves http(s)://HOST:PORT/api/data/v9.2/ until interrupted."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .app import Emulator
from .seed import SeedError
from .server import API_PREFIX, EmulatorServer
from .tls import ensure_certificate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.dataverse_emulator",
                                     description="A local emulator of the Dataverse Web API v9.2.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7072)
    parser.add_argument("--token", default="local-dev-token", help="the bearer token clients must send")
    parser.add_argument("--seed", type=Path, help="JSON seed file applied at start and on every reset")
    parser.add_argument("--data", type=Path, help="JSON file the state is persisted to and loaded from")
    parser.add_argument("--tls", action="store_true", help="serve https with a self-signed certificate")
    parser.add_argument("--data-dir", type=Path, default=Path(".stack/emulator"),
                        help="where --tls keeps cert.pem and key.pem")
    args = parser.parse_args(argv)
    seed = None
    if args.seed is not None:
        try:
            seed = json.loads(args.seed.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            print(f"cannot read seed file {args.seed}: {exc}", file=sys.stderr)
            return 2
    try:
        app = Emulator(startup_seed=seed, data_file=args.data)
    except SeedError as exc:
        print(f"seed file {args.seed} was refused: {exc}", file=sys.stderr)
        return 2
    server = EmulatorServer((args.host, args.port), app, args.token)
    scheme = "http"
    if args.tls:
        cert, key = ensure_certificate(args.data_dir)
        server.enable_tls(cert, key)
        scheme = "https"
    print(f"Dataverse emulator ready at {scheme}://{args.host}:{server.server_address[1]}{API_PREFIX}/",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.persist()
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
