"""An evaluated image may have no score (no counted pixel): EvaluationImage.score nullable.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('evaluationimage', schema=None) as batch_op:
        batch_op.alter_column('score', existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('evaluationimage', schema=None) as batch_op:
        batch_op.alter_column('score', existing_type=sa.Float(), nullable=False)
