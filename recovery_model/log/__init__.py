"""The prediction log: every risk shown or sent, the outcomes that followed, and the service's feedback.

One database (SQLAlchemy 2 Core, Alembic migrations): an embedded SQLite file by default, PostgreSQL by URL
(`RECOVERY_DATABASE_URL`). It holds clinical data and is protected like the rest of the record.
"""

MODEL_CHECK_S = 30.0  # how often a running face (a dashboard, each service worker) asks the registry for its model
