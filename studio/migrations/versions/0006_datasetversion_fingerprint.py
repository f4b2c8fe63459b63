"""Dataset versions record a fingerprint of their content (DatasetVersion.fingerprint), so a
snapshot of unchanged data reuses the latest version instead of writing an identical copy.

Existing versions get "" (not computed): the next snapshot of their dataset computes the
latest one's fingerprint from its rows and stores it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('datasetversion', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('datasetversion', schema=None) as batch_op:
        batch_op.drop_column('fingerprint')
