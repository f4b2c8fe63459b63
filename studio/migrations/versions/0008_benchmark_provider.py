"""Benchmark rows record what ran the network (ModelBenchmark.provider).

"torch compiled (inductor, CUDA graphs, bfloat16, channels_last)", "torch eager (float32)",
"onnxruntime TensorRT" / "CUDA" / "CPU": the provider actually used, shown on every benchmark
row. Rows stored before this revision get "" (not recorded).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('modelbenchmark', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider', sa.String(), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('modelbenchmark', schema=None) as batch_op:
        batch_op.drop_column('provider')
