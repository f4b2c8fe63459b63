"""Workers heartbeat (table ``worker``) and jobs remember their lane, priority, attempt and
worker, so a job whose worker vanished is put back on its queue by the others. The effect of a
job (its model version, evaluation, benchmark row) is unique per job id: a requeued job that
had already registered its version finds it instead of registering a second one.

``job.lane``: "gpu" or "cpu" (the huey queue it was put on); ``job.priority``: higher runs
first; ``job.attempts``: how many times a worker started it (a requeued job counts up, and
writes from an older attempt are fenced off); ``job.worker_id``: the ``worker`` row of the
process running it.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'worker',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('host', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('lanes', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('devices', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('worker', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_worker_last_seen'), ['last_seen'], unique=False)
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lane', sqlmodel.sql.sqltypes.AutoString(length=8), server_default='cpu',
                                      nullable=False))
        batch_op.add_column(sa.Column('priority', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('worker_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_job_worker_id'), ['worker_id'], unique=False)
    for table in ('modelversion', 'evaluation', 'modelbenchmark'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_unique_constraint(f'uq_{table}_job_id', ['job_id'])


def downgrade() -> None:
    for table in ('modelversion', 'evaluation', 'modelbenchmark'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f'uq_{table}_job_id', type_='unique')
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_worker_id'))
        batch_op.drop_column('worker_id')
        batch_op.drop_column('attempts')
        batch_op.drop_column('priority')
        batch_op.drop_column('lane')
    with op.batch_alter_table('worker', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_worker_last_seen'))
    op.drop_table('worker')
