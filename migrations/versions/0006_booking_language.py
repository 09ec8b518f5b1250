"""booking language: the language a consult was booked in, and the languages providers
consult in

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN with a server default: SQLite then keeps the tables as they are
    # instead of copying them (a copy would drop and recreate providers under live keys).
    # Bookings made before French existed were made in English.
    op.add_column(
        'consults',
        sa.Column('language', sa.String(length=8), nullable=False, server_default='en'),
    )
    op.add_column(
        'providers',
        sa.Column('languages', sa.JSON(), nullable=False, server_default=sa.text("'[\"en\"]'")),
    )


def downgrade() -> None:
    with op.batch_alter_table('providers') as batch:
        batch.drop_column('languages')
    with op.batch_alter_table('consults') as batch:
        batch.drop_column('language')
