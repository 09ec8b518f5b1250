"""staff login resets: an admin can make a person choose a new password or second factor

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 06:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_users') as batch:
        batch.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('must_enrol_totp', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('staff_users') as batch:
        batch.drop_column('must_enrol_totp')
        batch.drop_column('must_change_password')
