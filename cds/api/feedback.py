"""Card feedback from the EHR (accepted, overridden), stored idempotently."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from cds.api import deps
from cds.api.auth import require_feedback_token
from cds.api.body import texts
from cds.api.errors import ApiError, responses
from cds.metrics import FEEDBACK
from cds.store.feedback import FeedbackRequest

log = logging.getLogger(__name__)
router = APIRouter(tags=["Feedback"])


class FeedbackCounts(BaseModel):
    stored: int
    alreadyStored: int


@router.post("/cds-services/{service_id}/feedback", response_model=FeedbackCounts,
             responses=responses(400, 401, 404, 408, 413, 415, 503), dependencies=[Depends(require_feedback_token)])
async def post_feedback(service: deps.ServiceDep, store: deps.StoreDep, body: deps.BodyDep) -> dict[str, int]:
    """Store each feedback item once per card uuid and outcome; a repeat is counted, not stored."""
    if any("\x00" in text for text in texts(body)):   # no store keeps it: refused alike on every one
        raise ApiError(400, "invalid feedback", [{"field": "(body)", "message": "text must not hold a NUL character"}])
    try:
        parsed = FeedbackRequest.model_validate(body)
    except ValidationError as error:
        raise ApiError(400, "invalid feedback", [
            {"field": ".".join(map(str, e["loc"])) or "(body)", "message": e["msg"]} for e in error.errors()]) from None
    try:
        counts = await run_in_threadpool(store.store, service.id, parsed)
    except SQLAlchemyError:
        log.exception("could not store feedback for %s", service.id)
        raise ApiError(503, "feedback store unavailable: nothing was stored, please retry") from None
    FEEDBACK.labels("stored").inc(counts["stored"])
    FEEDBACK.labels("repeat").inc(counts["alreadyStored"])
    return counts
