"""The ASGI application."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI

from app import console
from app.access.codes import CodeBook
from app.access.locks import CommandKeys, build_locks
from app.access.router import HOT as access_hot
from app.access.router import router as access_router
from app.access.store import door_store
from app.accounts.router import router as accounts_router
from app.activities.course_router import router as courses_router
from app.activities.organiser_router import router as organiser_router
from app.activities.rating_router import router as activity_ratings_router
from app.activities.router import HOT as activities_hot
from app.activities.router import router as activities_router
from app.activities.signup_router import HOT as signups_hot
from app.activities.signup_router import router as activity_signups_router
from app.activities.signup_store import signup_store
from app.admin.router import router as admin_router
from app.audit.router import router as audit_router
from app.calendars.router import router as calendars_router
from app.centers.router import router as centers_router
from app.core import docs as api_docs
from app.core import logs
from app.core.config import Settings
from app.core.crypto import PiiCipher
from app.core.db import Database
from app.core.fastlane import FastLane
from app.core.handlers import install_error_handlers
from app.core.middleware import (
    BodyLimitMiddleware,
    LanguageMiddleware,
    ObservabilityMiddleware,
    SecurityHeadersMiddleware,
)
from app.core.ratelimit import Limiter
from app.core.routing import API_PREFIX
from app.evaluations.router import router as evaluations_router
from app.feedback.router import router as feedback_router
from app.holidays.router import router as holidays_router
from app.identity import real_name
from app.identity.router import router as identity_router
from app.identity.wechat import WechatClient
from app.jobs import inprocess
from app.kiosk import router as kiosk
from app.kiosk.router import admin_router as kiosk_admin_router
from app.lists.project_router import router as list_projects_router
from app.lists.resource_router import router as list_resources_router
from app.lists.router import router as lists_router
from app.map.cache import MapCache
from app.map.router import router as map_router
from app.notifications import templates as notification_templates
from app.notifications.router import router as notifications_router
from app.notifications.wechat import WechatMessenger
from app.ops import router as ops
from app.organizations.router import router as organizations_router
from app.questionnaires.router import router as questionnaires_router
from app.quotas.router import router as quotas_router
from app.reports.router import router as reports_router
from app.reservations.router import HOT as reservations_hot
from app.reservations.router import router as reservations_router
from app.reservations.store import booking_store
from app.series.router import router as series_router
from app.spaces.router import HOT as spaces_hot
from app.spaces.router import router as spaces_router
from app.staff.router import router as staff_router
from app.standing.router import router as standing_router
from app.suggestions.router import router as suggestions_router
from app.uploads.router import router as uploads_router
from app.waitlist.router import router as waitlist_router
from app.webhooks.router import router as webhooks_router


def create_app(settings: Settings | None = None, **engine_overrides: Any) -> FastAPI:
    settings = settings or Settings()
    notification_templates.check(settings)
    logs.configure(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database.connect(settings, **engine_overrides)
        await database.open()
        async with (
            WechatClient.http_client(settings) as http,
            real_name.http_client(settings) as identity_http,
        ):
            app.state.database = database
            app.state.wechat = WechatClient(settings, http)
            app.state.pii_cipher = PiiCipher(settings.pii_key_bytes)
            app.state.wechat_tokens = WechatMessenger(
                settings, database, app.state.pii_cipher, http
            )
            app.state.real_name_verifier = real_name.build_verifier(settings, identity_http)
            app.state.limiter = Limiter.build(settings)
            app.state.locks = build_locks(settings)
            app.state.command_keys = CommandKeys(settings.lock_command_key)
            app.state.codebook = CodeBook(cipher=app.state.pii_cipher)
            app.state.bookings = booking_store(database, app.state.codebook)
            app.state.doors = door_store(database, app.state.codebook)
            app.state.signups = signup_store(database)
            jobs = (
                asyncio.create_task(inprocess.run_periodically(database, settings))
                if settings.jobs_in_process
                else None
            )
            try:
                yield
            finally:
                if jobs is not None:
                    jobs.cancel()
                    with suppress(asyncio.CancelledError):
                        await jobs
                await database.dispose()

    docs = settings.docs_on
    app = FastAPI(
        title="Zhendi 阵地",
        version="0.1.0",
        summary="Booking backend for Shanghai's Party-Masses Service Centers",
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs else None,
        docs_url=None,  # app/core/docs.py serves them with their own assets
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.map_cache = MapCache(settings.map_cache_seconds)
    install_error_handlers(app)
    if docs:
        api_docs.install(app, "/openapi.json")
    for router in (
        identity_router,
        centers_router,
        map_router,
        spaces_router,
        reservations_router,
        series_router,
        access_router,
        organizations_router,
        quotas_router,
        accounts_router,
        staff_router,
        webhooks_router,
        audit_router,
        standing_router,
        notifications_router,
        waitlist_router,
        feedback_router,
        reports_router,
        evaluations_router,
        questionnaires_router,
        uploads_router,
        suggestions_router,
        lists_router,
        list_resources_router,
        list_projects_router,
        calendars_router,
        holidays_router,
        activity_signups_router,
        activities_router,
        organiser_router,
        courses_router,
        activity_ratings_router,
        admin_router,
        kiosk_admin_router,
    ):
        app.include_router(router)
    app.include_router(ops.build_router(API_PREFIX))
    console.install(app)
    app.include_router(kiosk.router)
    app.mount(f"{kiosk.PATH}/static", kiosk.static_files(), name="kiosk-static")
    app.include_router(ops.build_router(include_in_schema=False))  # probes also at the root
    # Innermost: the hot routes, answered without FastAPI's dependency machinery.
    hot_routes = [
        *reservations_hot.routes,
        *access_hot.routes,
        *spaces_hot.routes,
        *activities_hot.routes,
        *signups_hot.routes,
    ]
    app.add_middleware(FastLane, routes=hot_routes)
    app.add_middleware(LanguageMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        SecurityHeadersMiddleware,
        policies={
            console.auth.PATH: console.CONTENT_SECURITY_POLICY,
            kiosk.PATH: kiosk.CONTENT_SECURITY_POLICY,
        },
    )
    app.add_middleware(ObservabilityMiddleware)
    return app
