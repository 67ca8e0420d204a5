"""The floor for this stack: a bare FastAPI endpoint that reads and JSON-parses the body it is sent
and answers one fixed card, served by uvicorn exactly as `cds serve` serves the service.

`python -m bench.floor --port P --workers N`
"""

from __future__ import annotations

import argparse
import json

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

TOPIC = "floor.fixed"
CARD = {"uuid": "00000000-0000-4000-8000-000000000000", "summary": "Fixed card", "indicator": "info",
        "source": {"label": "floor", "topic": {"system": "urn:floor", "code": TOPIC}}}

app = FastAPI()


@app.post("/cds-services/{service_id}")
async def call_service(service_id: str, request: Request) -> JSONResponse:
    json.loads(await request.body())
    return JSONResponse({"cards": [CARD], "systemActions": []})


@app.get("/readyz")
async def ready() -> dict[str, str]:
    return {"status": "ready"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run("bench.floor:app", host="127.0.0.1", port=args.port, workers=args.workers, log_level="info")


if __name__ == "__main__":
    main()
