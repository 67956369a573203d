"""Alembic runs migrations on the connection `recovery_model.log.database.upgrade` hands it."""

from alembic import context

from recovery_model.log.tables import metadata

context.configure(connection=context.config.attributes["connection"], target_metadata=metadata,
                  render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
