"""Synthetic youth for benchmarks and demos: invented names, valid-looking CCCD and phones."""

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
    return CaseData(
        full_name=f"{rng.choice(FAMILY)} {rng.choice(MIDDLE[sex])} {rng.choice(GIVEN)}",
        date_of_birth=born,
        sex=sex,
        national_id=cccd,
        phone=f"+849{rng.randint(10_000_000, 99_999_999)}",
        address=f"Thôn {rng.randint(1, 12)}",
        guardian_name=None,
        guardian_relation=None,
        guardian_phone=None,
        notes=None,
        commune_code=commune_code,
        category=rng.choice(list(Category)),
        education=rng.choice(list(Education)),
        occupation=rng.choice(list(Occupation)),
        drug_types=rng.sample(list(DrugType), k=rng.randint(1, 2)),
        assigned_worker_id=None,
        intake_on=intake,
    )
