"""Console tables: operators, sessions, append-only operator audit, complaints, evidence, PI requests,
consents, escalations, lexicon uploads. The operator audit trail gets triggers that refuse UPDATE/DELETE.

Revision ID: 0002_console
Revises: 0001
Create Date: 2026-12-01 23:03:38.211452
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_console"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_audit",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_audit_created_at"), ["created_at"], unique=False)

    op.create_table(
        "console_complaints",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tracking_no", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("content_ref", sa.String(length=500), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("ack_due", sa.DateTime(), nullable=False),
        sa.Column("resolve_due", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("handled_by", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tracking_no"),
    )
    with op.batch_alter_table("console_complaints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_complaints_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_console_complaints_state"), ["state"], unique=False)
        batch_op.create_index("ix_console_complaints_state_due", ["state", "resolve_due"], unique=False)

    op.create_table(
        "console_consents",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("training_use", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "console_escalations",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_escalations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_escalations_incident_id"), ["incident_id"], unique=False)

    op.create_table(
        "console_lexicons",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("fmt", sa.String(length=8), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("audit", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("activated_at", sa.DateTime(), nullable=True),
        sa.Column("activated_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "console_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "console_operators",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "console_pi_requests",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tracking_no", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("due", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("handled_by", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("kept_statement", sa.Text(), nullable=True),
        sa.Column("archive", sa.LargeBinary(), nullable=True),
        sa.Column("archive_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tracking_no"),
    )
    with op.batch_alter_table("console_pi_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_pi_requests_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_console_pi_requests_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_console_pi_requests_user_id"), ["user_id"], unique=False)

    op.create_table(
        "console_evidence",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("complaint_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id"], ["console_complaints.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_evidence_complaint_id"), ["complaint_id"], unique=False)

    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["operator_id"], ["console_operators.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_sessions_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_console_sessions_operator_id"), ["operator_id"], unique=False)

    # the operator audit trail is append-only in the database itself, not just by convention
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER console_audit_no_{verb.lower()} BEFORE {verb} ON console_audit "
                "BEGIN SELECT RAISE(ABORT, 'console_audit is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION console_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'console_audit is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER console_audit_append_only BEFORE UPDATE OR DELETE ON console_audit "
            "FOR EACH ROW EXECUTE FUNCTION console_audit_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS console_audit_no_update")
        op.execute("DROP TRIGGER IF EXISTS console_audit_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS console_audit_append_only ON console_audit")
        op.execute("DROP FUNCTION IF EXISTS console_audit_append_only()")
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_sessions_operator_id"))
        batch_op.drop_index(batch_op.f("ix_console_sessions_expires_at"))

    op.drop_table("console_sessions")
    with op.batch_alter_table("console_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_evidence_complaint_id"))

    op.drop_table("console_evidence")
    with op.batch_alter_table("console_pi_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_pi_requests_user_id"))
        batch_op.drop_index(batch_op.f("ix_console_pi_requests_state"))
        batch_op.drop_index(batch_op.f("ix_console_pi_requests_created_at"))

    op.drop_table("console_pi_requests")
    op.drop_table("console_operators")
    op.drop_table("console_meta")
    op.drop_table("console_lexicons")
    with op.batch_alter_table("console_escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_escalations_incident_id"))

    op.drop_table("console_escalations")
    op.drop_table("console_consents")
    with op.batch_alter_table("console_complaints", schema=None) as batch_op:
        batch_op.drop_index("ix_console_complaints_state_due")
        batch_op.drop_index(batch_op.f("ix_console_complaints_state"))
        batch_op.drop_index(batch_op.f("ix_console_complaints_created_at"))

    op.drop_table("console_complaints")
    with op.batch_alter_table("console_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_audit_created_at"))

    op.drop_table("console_audit")
