"""declared category: the category the worker declared, so reports can read a past day's category

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 21:34:33.850278
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CATEGORIES = "'user', 'addicted', 'in_rehab', 'post_rehab', 'post_prison'"


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("declared_category", sa.String(length=16), nullable=True))
    # Existing files: the category is the declared one unless rehab steps or a determination
    # set it; then the file was opened as a user's (the steps say the rest).
    op.execute(
        "UPDATE cases SET declared_category = CASE "
        "WHEN category IN ('in_rehab', 'addicted', 'post_rehab') AND ("
        "EXISTS (SELECT 1 FROM rehab_episodes r WHERE r.case_id = cases.id) OR "
        "EXISTS (SELECT 1 FROM addiction_determinations d WHERE d.case_id = cases.id)) "
        "THEN 'user' ELSE category END"
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("declared_category", existing_type=sa.String(16), nullable=False)
        batch_op.create_check_constraint(
            op.f("ck_cases_declared_category_allowed"), f"declared_category IN ({CATEGORIES})"
        )


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_cases_declared_category_allowed"), type_="check")
        batch_op.drop_column("declared_category")
