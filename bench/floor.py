"""The floor for this stack: a bare FastAPI endpoint that reads and JSON-parses the body it is sent
and answers one fixed card, served by uvicorn exactly as `cds serve` serves the service.

`python -m bench.floor --port P --workers N`
"""

from __future__ import annotations

import argparse
import os

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cds.api.body import decode_json
from cds.connections import run_workers

TOPIC = "floor.fixed"
CARD = {"uuid": "00000000-0000-4000-8000-000000000000", "summary": "Fixed card", "indicator": "info",
        "source": {"label": "floor", "topic": {"system": "urn:floor", "code": TOPIC}}}

app = FastAPI()


@app.post("/cds-services/{service_id}")
async def call_service(service_id: str, request: Request) -> JSONResponse:
    decode_json(await request.body())  # as the service decodes it
    return JSONResponse({"cards": [CARD], "systemActions": []})


@app.get("/readyz")
async def ready() -> dict[str, str | int]:
    return {"status": "ready", "worker": os.getpid()}   # as the service's: the bench waits for every worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.workers == 1:
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info")
    else:
        run_workers("bench.floor:served_app", args.workers, "127.0.0.1", args.port)


def served_app() -> FastAPI:
    """The app of one worker process (run_workers takes a factory)."""
    return app


if __name__ == "__main__":
    main()
