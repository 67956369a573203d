"""What one service worker holds (the model in use and its shadow, the log, the token verifier, the cards switch),
and the dependencies each route asks for: the worker, and the EHR that signed the call."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from recovery_model.errors import RecoveryError, Refused
from recovery_model.log.registry import checkpoint_in_use, shadow_in_use
from recovery_model.log.spool import DurableLog
from recovery_model.log.store import PredictionLog
from recovery_model.scoring.checkpoint import ModelIdentity, read_header
from recovery_model.scoring.predictor import Predictor
from recovery_model.service.auth import Caller, TokenVerifier
from recovery_model.service.settings import ServiceSettings
from recovery_model.service.switch import CardSwitch

logger = logging.getLogger("recovery.service")


class Worker:
    """The model in use, the log, the token verifier and the cards switch of one worker process."""

    predictor: Predictor
    model: ModelIdentity
    model_problem: str | None
    shadow: Predictor | None = None
    _next_check: float

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.log = PredictionLog.open()
        self.durable = DurableLog(self.log)  # what cannot be written while the database is away waits on disk
        self._use(_loaded(checkpoint_in_use(settings.checkpoint)))
        self._shadow(shadow_in_use(settings.checkpoint))
        self.verifier = None if settings.no_auth else TokenVerifier(settings.issuers, self.log)
        self.switch = CardSwitch(self.log)

    def follow(self) -> None:
        """Every `model_check_s`, the model the registry has in use: a promotion or a rollback reaches each worker
        within that, without a restart. A model that cannot be used leaves the one in use serving, logged and said
        by /healthz (`model_problem`)."""
        if time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + self.settings.model_check_s
        try:
            folder = checkpoint_in_use(self.settings.checkpoint)
            if read_header(folder).digest != self.model.digest:
                self._use(_loaded(folder))
                logger.warning("now using model %s (%s) from %s", self.model.version, self.model.short_digest, folder)
            self._shadow(shadow_in_use(self.settings.checkpoint))
            self.model_problem = None
        except RecoveryError as exc:
            self.model_problem = str(exc)
            logger.error("the model in use cannot change: %s; still using %s", exc, self.model.short_digest)

    def _use(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.model = predictor.identity
        self.model_problem = None
        self._next_check = time.monotonic() + self.settings.model_check_s

    def _shadow(self, folder: Path | None) -> None:
        """The shadow model (None: none), loaded again only when it changed."""
        if folder is None:
            self.shadow = None
        elif self.shadow is None or read_header(folder).digest != self.shadow.digest:
            self.shadow = _loaded(folder)


def _loaded(folder: Path) -> Predictor:
    predictor = Predictor.load(folder)
    predictor.warm_up()
    return predictor


def the_worker(request: Request) -> Worker:
    worker: Worker = request.app.state.worker
    worker.follow()
    return worker


WorkerDep = Annotated[Worker, Depends(the_worker)]


def caller(request: Request, svc: WorkerDep) -> Caller | None:
    """The EHR that signed the request's token (None with --no-auth); anything else is a bare 401."""
    if svc.verifier is None:
        return None
    public = svc.settings.public_url
    base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    try:
        return svc.verifier.verify(request.headers.get("authorization"), base + request.url.path)
    except Refused as refused:
        logger.warning("refused %s %s: %s", request.method, request.url.path, refused)
        raise HTTPException(status_code=401, headers={"WWW-Authenticate": "Bearer"}) from None


CallerDep = Annotated[Caller | None, Depends(caller)]
