"""The operations digest: one summary of the open attention per hour (``orderbridge.digest``).

- ``staging.attention_digests``: ``hour`` (UTC, whole hours: the key that makes the digest DAG write
  at most once an hour however many loads trigger it), ``written_at``, ``run_id`` (the digest DAG
  run), ``open_total``, ``summary`` (jsonb list of ``{channel, account, reason, count, oldest}``),
  ``text`` (the same, readable).

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.execute("""
    CREATE TABLE staging.attention_digests (
        hour        timestamptz PRIMARY KEY
                    CONSTRAINT attention_digests_whole_hour
                    CHECK (date_trunc('hour', hour AT TIME ZONE 'UTC') = hour AT TIME ZONE 'UTC'),
        written_at  timestamptz NOT NULL DEFAULT now(),
        run_id      text,
        open_total  integer NOT NULL CHECK (open_total >= 0),
        summary     jsonb NOT NULL CHECK (jsonb_typeof(summary) = 'array'),
        text        text NOT NULL
    );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE staging.attention_digests")
