"""Production slots and active-learning rankings.

``productionslot``: the version in production for one (dataset, task), unique per pair
(``studio models promote``); ``promotion``: every promotion, for the slot's history and the
per-model changelog. ``ranking`` / ``rankedimage``: a dataset's unlabelled images ordered by a
version's uncertainty or two versions' disagreement (job "rank"); the newest ranking of a
dataset is the order the Label page's "next to do" follows (``studio.active.ranked_todo``).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'productionslot',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dataset', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('task', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('model_version_id', sa.Integer(), nullable=False),
        sa.Column('promoted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(['model_version_id'], ['modelversion.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dataset', 'task', name='uq_productionslot_dataset_task'),
    )
    with op.batch_alter_table('productionslot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_productionslot_model_version_id'), ['model_version_id'], unique=False)
    op.create_table(
        'promotion',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dataset', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('task', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('model_version_id', sa.Integer(), nullable=False),
        sa.Column('replaced', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['model_version_id'], ['modelversion.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('promotion', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_promotion_model_version_id'), ['model_version_id'], unique=False)
    op.create_table(
        'ranking',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dataset_id', sa.Integer(), nullable=False),
        sa.Column('method', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('model', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('other_model', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('model_version_id', sa.Integer(), nullable=True),
        sa.Column('image_count', sa.Integer(), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.Column('job_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['model_version_id'], ['modelversion.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['job_id'], ['job.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('job_id', name='uq_ranking_job_id'),
    )
    with op.batch_alter_table('ranking', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ranking_dataset_id'), ['dataset_id'], unique=False)
    op.create_table(
        'rankedimage',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ranking_id', sa.Integer(), nullable=False),
        sa.Column('image_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['ranking_id'], ['ranking.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['image_id'], ['image.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('rankedimage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rankedimage_ranking_id'), ['ranking_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rankedimage_image_id'), ['image_id'], unique=False)
        batch_op.create_index('ix_rankedimage_ranking_position', ['ranking_id', 'position'], unique=False)


def downgrade() -> None:
    op.drop_table('rankedimage')
    op.drop_table('ranking')
    op.drop_table('promotion')
    op.drop_table('productionslot')
