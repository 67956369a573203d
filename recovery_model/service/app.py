"""The service's application: one worker's model loaded (and warmed up) when it starts, the body size capped, CORS
where configured, and the routes of `routes` (CDS Hooks 2.0 and the JSON API)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response

from recovery_model.service.routes import api, cds_hooks
from recovery_model.service.settings import ServiceSettings
from recovery_model.service.worker import Worker

logger = logging.getLogger("recovery.service")
SCORING_THREADS = 1


def create_app(settings: ServiceSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        app.state.worker = Worker(settings)
        # Scoring holds the interpreter lock: a second thread only takes turns with the first and slows every call
        # (16 clients on 1 worker: p95 1.6 s with 40 threads, 0.8 s with 2, 0.7 s with 1); the rest wait in order.
        anyio.to_thread.current_default_thread_limiter().total_tokens = SCORING_THREADS
        if settings.no_auth:
            logger.warning("recovery serve runs WITHOUT AUTHENTICATION (--no-auth): for one machine only, never for "
                           "patients.")
        yield

    app = FastAPI(title="recovery", version="1", lifespan=lifespan,
                  description="The risk of not recovering, for the EHR (CDS Hooks 2.0) and other systems.")
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.middleware("http")
    async def size_cap(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.body_limit_bytes:
            return JSONResponse({"detail": f"the body is over {settings.body_limit_bytes} bytes"}, status_code=413)
        return await call_next(request)

    app.include_router(cds_hooks)
    app.include_router(api)
    return app


def app_from_environment() -> FastAPI:
    """The app a uvicorn worker builds (`recovery serve` passes the settings in the environment)."""
    return create_app(ServiceSettings.from_environment())
