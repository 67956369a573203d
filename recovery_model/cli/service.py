"""`recovery serve`: the CDS Hooks service and JSON API; `recovery cards on|off|status` for its admins."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from recovery_model.cli.options import checkpoint_option, hours, positive, positive_count
from recovery_model.extras import require
from recovery_model.log import MODEL_CHECK_S


def _serve(args: argparse.Namespace) -> int:
    require("fastapi", "service", "recovery serve")
    import uvicorn

    from recovery_model.log.store import PredictionLog
    from recovery_model.service.settings import ServiceSettings, read_issuers
    from recovery_model.settings import SERVICE_ENV

    settings = ServiceSettings(checkpoint=str(args.checkpoint) if args.checkpoint else None,
                               issuers=read_issuers(args.issuers) if args.issuers else (), no_auth=args.no_auth,
                               public_url=args.public_url, dashboard_url=args.dashboard_url, silent=args.silent,
                               cors_origins=tuple(args.cors_origin), repeat_hours=args.repeat_hours,
                               model_check_s=args.model_check_seconds)
    PredictionLog.open()  # the log must be usable before the service says it is up: cards are logged there
    if args.no_auth:
        print("WARNING: no authentication (--no-auth): anyone who can reach this port can score patients. For "
              "trying the service on one machine only.", file=sys.stderr)
    os.environ[SERVICE_ENV] = settings.to_environment()
    uvicorn.run("recovery_model.service.app:app_from_environment", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="info", access_log=False)
    return 0


def _cards(args: argparse.Namespace) -> int:
    from recovery_model.access import AuditLog
    from recovery_model.log.cards import cards_setting, set_cards
    from recovery_model.log.store import PredictionLog

    log = PredictionLog.open()
    if args.state != "status":
        set_cards(log, args.state == "on", getpass.getuser())
        AuditLog().record("cards_switched", user=getpass.getuser(), outcome=args.state)
    setting = cards_setting(log)
    since = f", since {setting.changed_at:%Y-%m-%d %H:%M} UTC by {setting.changed_by}" if setting.changed_at else ""
    print(f"EHR cards are {'on' if setting.on else 'OFF (scored and logged, not shown)'}{since}.")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="The CDS Hooks service (patient-view, encounter-discharge) and a JSON "
                                "API, with the model loaded once per worker.")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=positive_count, default=8080)
    checkpoint_option(serve)
    serve.add_argument("--issuers", type=Path, default=None,
                       help="TOML: the EHRs trusted ([[issuer]] iss, jwks = a file or an https:// URL, tenant).")
    serve.add_argument("--no-auth", action="store_true",
                       help="Accept calls without a token: for trying it on one machine only (it says so everywhere).")
    serve.add_argument("--workers", type=positive_count, default=1)
    serve.add_argument("--public-url", default=None,
                       help="The URL the EHR calls (the tokens' audience); default the URL each request arrived at.")
    serve.add_argument("--dashboard-url", default=None,
                       help="The dashboard's URL: cards then link to the Patient page on the logged assessment.")
    serve.add_argument("--silent", action="store_true",
                       help="Score and log every call but return no cards (a validation period before go-live).")
    serve.add_argument("--cors-origin", action="append", default=[],
                       help="An origin allowed to call from a browser (repeat; the public CDS Hooks sandbox is "
                       "https://sandbox.cds-hooks.org).")
    serve.add_argument("--repeat-hours", type=hours, default=24.0,
                       help="Outside an encounter, show a clinician the same tier's card again after this many "
                       "hours (default 24); within an encounter it is shown once, and again when the tier changes.")
    serve.add_argument("--model-check-seconds", type=positive, default=MODEL_CHECK_S,
                       help="How often each worker asks the registry which model is in use (default %(default)g): a "
                       "promotion or rollback reaches the service within this.")
    serve.set_defaults(handler=_serve)

    cards = commands.add_parser("cards", help="Switch the service's cards off or on without stopping it.")
    cards.add_argument("state", choices=("on", "off", "status"))
    cards.set_defaults(handler=_cards)
