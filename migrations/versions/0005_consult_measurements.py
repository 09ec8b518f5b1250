"""consult measurements: joint angles measured on a frozen frame of the call

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consult_measurements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('consult_id', sa.Integer(), nullable=False),
    sa.Column('joint', sa.String(length=16), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('movement', sa.String(length=24), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('degrees', sa.Integer(), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('taken_by', sa.Integer(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('degrees >= 0 AND degrees <= 180', name='ck_measurement_degrees'),
    sa.ForeignKeyConstraint(['consult_id'], ['consults.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['taken_by'], ['staff_users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_consult_measurements_consult_id', 'consult_measurements', ['consult_id'])


def downgrade() -> None:
    op.drop_index('ix_consult_measurements_consult_id', table_name='consult_measurements')
    op.drop_table('consult_measurements')
