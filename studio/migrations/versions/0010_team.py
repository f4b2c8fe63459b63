"""A team: users, image leases, assignments, annotation versions and review decisions.

``user``: people who log in (argon2id password hash, role annotator | reviewer | admin, an
optional e-mail an OIDC login is matched against, a session epoch that invalidates old cookies).
``lease``: who works on an image now (one row per image: the primary key is the image), taken by
compare-and-set. ``assignment``: images of a dataset given to a user (split, status, file-name
glob, position range). ``annotationrevision``: each written version of an annotation, so a
refused stale edit can say what changed. ``annotation.version`` counts edits (old rows start at
1), ``updated_by`` / ``reviewed_by`` / ``reviewed_at`` say who; ``image.review_state`` /
``reviewed_by`` / ``reviewed_at`` / ``review_reply`` hold a reviewer's decision on the image.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'user',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('session_epoch', sa.Integer(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('last_login_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_user_name'), ['name'], unique=True)

    op.create_table(
        'assignment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dataset_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('split', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('pattern', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('first', sa.Integer(), nullable=True),
        sa.Column('last', sa.Integer(), nullable=True),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignment_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignment_user_id'), ['user_id'], unique=False)

    op.create_table(
        'annotationrevision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('annotation_id', sa.Integer(), nullable=False),
        sa.Column('image_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('class_id', sa.Integer(), nullable=True),
        sa.Column('class_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('area', sa.Integer(), nullable=False),
        sa.Column('editor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['image_id'], ['image.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('annotationrevision', schema=None) as batch_op:
        batch_op.create_index('ix_annotationrevision_annotation_version', ['annotation_id', 'version'], unique=False)
        batch_op.create_index(batch_op.f('ix_annotationrevision_image_id'), ['image_id'], unique=False)

    op.create_table(
        'lease',
        sa.Column('image_id', sa.Integer(), nullable=False),
        sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('acquired_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['image_id'], ['image.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('image_id'),
    )
    with op.batch_alter_table('lease', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lease_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lease_holder'), ['holder'], unique=False)

    with op.batch_alter_table('annotation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('reviewed_by', sqlmodel.sql.sqltypes.AutoString(), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('reviewed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    with op.batch_alter_table('image', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_state', sqlmodel.sql.sqltypes.AutoString(length=16), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('reviewed_by', sqlmodel.sql.sqltypes.AutoString(), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('reviewed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('review_reply', sqlmodel.sql.sqltypes.AutoString(), server_default='',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('image', schema=None) as batch_op:
        for column in ('review_reply', 'reviewed_at', 'reviewed_by', 'review_state'):
            batch_op.drop_column(column)
    with op.batch_alter_table('annotation', schema=None) as batch_op:
        for column in ('reviewed_at', 'reviewed_by', 'updated_by', 'version'):
            batch_op.drop_column(column)
    with op.batch_alter_table('lease', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lease_holder'))
        batch_op.drop_index(batch_op.f('ix_lease_expires_at'))
    op.drop_table('lease')
    with op.batch_alter_table('annotationrevision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annotationrevision_image_id'))
        batch_op.drop_index('ix_annotationrevision_annotation_version')
    op.drop_table('annotationrevision')
    with op.batch_alter_table('assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignment_user_id'))
        batch_op.drop_index(batch_op.f('ix_assignment_dataset_id'))
    op.drop_table('assignment')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_name'))
        batch_op.drop_index(batch_op.f('ix_user_email'))
    op.drop_table('user')
