"""Classes get a display order (LabelClass.position) apart from their index.

The index is the value in masks and model outputs and never changes; the position is the
order the user chose (the Label page's 1-9 keys follow it). Existing classes keep the order
they were shown in: position = index.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('labelclass', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.Integer(), server_default='0', nullable=False))
    op.execute('UPDATE labelclass SET position = "index"')


def downgrade() -> None:
    with op.batch_alter_table('labelclass', schema=None) as batch_op:
        batch_op.drop_column('position')
