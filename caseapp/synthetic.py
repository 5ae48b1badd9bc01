"""Synthetic youth for demos and benchmarks: invented names, valid-looking CCCD numbers and phones.

Nothing here describes a real person; the CCCD numbers follow the format (province of Thái Bình,
century/sex digit, year digits) with random serials.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from caseapp.cases.models import Category, DrugType, Education, Occupation, Sex
from caseapp.cases.services import CaseData

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương"]
MIDDLE = {Sex.MALE: ["Văn", "Đức", "Minh", "Quang", "Hữu"], Sex.FEMALE: ["Thị", "Ngọc", "Thu"]}
GIVEN = ["An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hùng", "Khánh", "Lan", "Linh", "Long",
         "Mai", "Nam", "Phong", "Quân", "Sơn", "Thảo", "Trang", "Tuấn", "Việt", "Xuân",
         "Yến"]  # fmt: skip


def synthetic_case(rng: random.Random, commune_code: int, today: date) -> CaseData:
    """One invented youth aged 12–30 at intake, in ``commune_code``."""
    sex = rng.choice([Sex.MALE, Sex.MALE, Sex.MALE, Sex.FEMALE])
    intake = today - timedelta(days=rng.randint(0, 3 * 365))
    born = intake - timedelta(days=rng.randint(13 * 365, 29 * 365))
    century_digit = (0 if born.year < 2000 else 2) + (1 if sex is Sex.FEMALE else 0)
    cccd = f"034{century_digit}{born.year % 100:02d}{rng.randint(0, 999_999):06d}"
    age = intake.year - born.year - ((intake.month, intake.day) < (born.month, born.day))
    minor = age < 18  # minors have a legal representative on file, as the form requires
    return CaseData(
        full_name=f"{rng.choice(FAMILY)} {rng.choice(MIDDLE[sex])} {rng.choice(GIVEN)}",
        date_of_birth=born,
        sex=sex,
        national_id=cccd,
        phone=f"+849{rng.randint(10_000_000, 99_999_999)}",
        address=f"Thôn {rng.randint(1, 12)}",
        guardian_name=f"{rng.choice(FAMILY)} Thị {rng.choice(GIVEN)}" if minor else None,
        guardian_relation="Mẹ" if minor else None,
        guardian_phone=None,
        notes=None,
        commune_code=commune_code,
        # Categories a file is opened with; rehab categories come from recorded steps.
        category=rng.choice(
            [Category.USER, Category.USER, Category.ADDICTED, Category.POST_PRISON]
        ),
        education=rng.choice(list(Education)),
        occupation=rng.choice(list(Occupation)),
        drug_types=rng.sample(list(DrugType), k=rng.randint(1, 2)),
        assigned_worker_id=None,
        intake_on=intake,
    )


def create_synthetic_cases(
    count: int,
    *,
    seed: int,
    communes: list[int],
    focus_commune: int | None,
    actor_id: int | None,
    today: date,
    batch_size: int = 1000,
) -> int:
    """Insert ``count`` synthetic cases in batches (encryption still per value); a quarter of
    them in ``focus_commune`` when given. Flushes per batch; the caller commits."""
    import uuid

    from caseapp.cases import codes
    from caseapp.cases.models import Case, CaseEvent, Status
    from caseapp.cases.services import apply_case_data
    from caseapp.extensions import db

    rng = random.Random(seed)
    made = 0
    while made < count:
        cases = []
        for _ in range(min(batch_size, count - made)):
            commune = (
                focus_commune
                if focus_commune is not None and rng.random() < 0.25
                else rng.choice(communes)
            )
            case = Case(code=codes.new_code(), uuid=str(uuid.uuid4()), status=Status.OPEN.value)
            apply_case_data(case, synthetic_case(rng, commune, today))
            cases.append(case)
        db.session.add_all(cases)
        db.session.flush()
        db.session.add_all(
            CaseEvent(case_id=c.id, kind="created", actor_id=actor_id, version=c.version,
                      details={"commune": c.commune_code, "synthetic": True})
            for c in cases
        )  # fmt: skip
        db.session.flush()
        db.session.expunge_all()
        made += len(cases)
    return made
