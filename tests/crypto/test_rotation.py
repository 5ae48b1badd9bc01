"""E6: key rotation, through the real `caseapp` command and in process; KEK retirement."""

from __future__ import annotations

import os
import secrets
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from caseapp import keys as keys_module
from caseapp.crypto import key_id_of
from caseapp.extensions import db
from caseapp.keys import (
    DataKey,
    KeyManagementError,
    add_kek,
    load_keyring,
    retire_kek,
    rewrap_data_keys,
    rotate_keys,
)
from tests.crypto.models import ADDR, CCCD, DOB, NAME, Sample, make_sample
from tests.test_cli import run

ROOT = Path(__file__).resolve().parents[2]
IMPORT = ("--import-models", "tests.crypto.models")
COLUMNS = ("full_name_ct", "national_id_ct", "address_ct", "date_of_birth_ct")


def seed(app, count: int) -> dict[int, tuple[object, ...]]:
    """``count`` rows with distinct values; returns them by id."""
    with app.app_context():
        rows = [
            make_sample(
                full_name=f"{NAME} {n}",
                national_id=CCCD if n % 2 else None,
                address=f"{ADDR} {n}",
                date_of_birth=date(2000 + n % 20, 1 + n % 12, 1 + n % 28),
            )
            for n in range(count)
        ]
        db.session.add_all(rows)
        db.session.commit()
    return read_all(app)


def read_all(app) -> dict[int, tuple[object, ...]]:
    with app.app_context():
        found = {
            s.id: (s.full_name, s.national_id, s.address, s.date_of_birth, s.version)
            for s in db.session.scalars(sa.select(Sample))
        }
        db.session.commit()
        return found


def tokens_by_key(app) -> dict[str, int]:
    """How many stored tokens use each data key."""
    counts: dict[str, int] = {}
    with app.app_context():
        table = Sample.__table__
        for row in db.session.execute(sa.select(*(table.c[c] for c in COLUMNS))):
            for token in row:
                if token is not None:
                    counts[key_id_of(token)] = counts.get(key_id_of(token), 0) + 1
        db.session.commit()
    return counts


def data_keys(app) -> dict[str, tuple[str, bool, bool]]:
    """Data keys by id: (KEK id, primary?, retired?)."""
    with app.app_context():
        found = {
            k.id: (k.kek_id, k.is_primary, k.retired_at is not None)
            for k in db.session.scalars(sa.select(DataKey))
        }
        db.session.commit()
        return found


@pytest.fixture
def cli(instance_path, database_url):
    """Run `caseapp` in a subprocess on the test database and key file."""
    env = {
        "CASEAPP_SECRET_KEY": secrets.token_urlsafe(32),
        "CASEAPP_DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
    }

    def caseapp(*args: str, check: bool = True):
        result = run(instance_path, *args, env=env, check=check)
        for text in (result.stdout, result.stderr):  # counts and ids only, never values
            for marker in (NAME, CCCD, ADDR, DOB.isoformat()):
                assert marker not in text
            assert "Traceback" not in text
        return result

    return caseapp


@pytest.mark.plan("E6")
def test_key_rotation_end_to_end(samples, app_factory, instance_path, cli):
    values = seed(samples, 25)
    (old,) = data_keys(samples)

    first = cli(
        "rotate-keys", "--new-kek", "--batch-size", "10", "--stop-after-batches", "1", *IMPORT,
        check=False,
    )  # fmt: skip
    assert first.returncode == 1
    assert "Key-encryption key k2 added to the key file as primary." in first.stdout
    assert "1 data key(s) re-wrapped under k2." in first.stdout
    assert "crypto_samples: batch 1: 10 row(s) re-encrypted, 0 changed" in first.stdout
    assert "Run `caseapp rotate-keys` again" in first.stderr
    key_file = instance_path / "keys.json"
    keyring = load_keyring(key_file)
    assert (keyring.primary_kek_id, sorted(keyring.keks)) == ("k2", ["k1", "k2"])
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in instance_path.iterdir()) == ["keys.json"]
    (new,) = set(data_keys(samples)) - {old}
    assert data_keys(samples) == {old: ("k2", False, False), new: ("k2", True, False)}
    assert tokens_by_key(samples) == {new: 35, old: 52}  # 10 rows of 25 done so far
    assert read_all(app_factory()) == values  # old and new rows readable midway

    refused = cli("keys", "retire-kek", "k2", *IMPORT, check=False)
    assert "k2 is the primary key-encryption key" in refused.stderr

    second = cli("rotate-keys", "--batch-size", "10", *IMPORT)
    assert f"Resuming with primary data key {new}." in second.stdout
    assert "batch 1: 10 row(s)" in second.stdout
    assert "batch 2: 5 row(s)" in second.stdout
    assert f"Done: every value uses data key {new}." in second.stdout
    assert tokens_by_key(samples) == {new: 87}
    assert data_keys(samples) == {old: ("k2", False, True), new: ("k2", True, False)}

    retired = cli("keys", "retire-kek", "k1", *IMPORT)
    assert "Removed k1 from the key file" in retired.stdout
    assert sorted(load_keyring(key_file).keks) == ["k2"]
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    assert read_all(app_factory()) == values  # versions included: rotation is not an edit


def test_retire_kek_refused_while_a_data_key_needs_it(samples, cli, instance_path):
    seed(samples, 3)
    cli("rotate-keys", "--new-kek", "--stop-after-batches", "1", *IMPORT, check=False)
    with samples.app_context():  # as if the re-wrap had not happened yet
        db.session.execute(sa.update(DataKey.__table__).values(kek_id="k1"))
        db.session.commit()
    before = (instance_path / "keys.json").read_bytes()
    refused = cli("keys", "retire-kek", "k1", *IMPORT, check=False)
    assert refused.returncode == 1
    assert "k1 still protects data key(s)" in refused.stderr
    assert "run `caseapp rotate-keys`" in refused.stderr
    assert (instance_path / "keys.json").read_bytes() == before
    unknown = cli("keys", "retire-kek", "k9", *IMPORT, check=False)
    assert "k9 is not in the key file" in unknown.stderr


def test_commands_refuse_an_encrypted_column_they_do_not_know(samples, cli, instance_path):
    seed(samples, 2)
    before = (instance_path / "keys.json").read_bytes()
    for command in (("rotate-keys", "--new-kek"), ("keys", "retire-kek", "k1")):
        refused = cli(*command, check=False)
        assert refused.returncode == 1
        assert "Column crypto_samples.full_name_ct looks encrypted" in refused.stderr
        assert (instance_path / "keys.json").read_bytes() == before
    assert len(data_keys(samples)) == 1


@pytest.mark.plan("E6")
def test_concurrent_edit_during_rotation_is_not_overwritten(samples, app_factory, monkeypatch):
    values = seed(samples, 3)
    first_id = min(values)
    other = app_factory()  # a web worker saving a form while the rotation runs
    read_batch = keys_module._read_batch

    def read_then_someone_edits(*args, **kwargs):
        rows = read_batch(*args, **kwargs)
        if rows and rows[0].id == first_id:
            with other.app_context():
                db.session.get(Sample, first_id).full_name = "Sửa trong lúc xoay khoá"
                db.session.commit()
        return rows

    monkeypatch.setattr(keys_module, "_read_batch", read_then_someone_edits)
    with samples.app_context():
        report = rotate_keys(samples.extensions["caseapp.cipher"], batch_size=10)
    assert (report.reencrypted, report.conflicts) == (2, 1)
    assert not report.finished  # the edited row's other fields still use the old key
    assert report.retired == []
    after = read_all(app_factory())
    assert after[first_id][0] == "Sửa trong lúc xoay khoá"
    assert after[first_id][4] == 2  # the user's save, and nothing else, bumped the version
    assert {i: v for i, v in after.items() if i != first_id} == {
        i: v for i, v in values.items() if i != first_id
    }

    monkeypatch.setattr(keys_module, "_read_batch", read_batch)
    with samples.app_context():
        again = rotate_keys(samples.extensions["caseapp.cipher"])
    assert again.resumed
    assert (again.reencrypted, again.conflicts, again.finished) == (1, 0, True)
    assert again.primary_dek_id == report.primary_dek_id
    assert read_all(app_factory()) == after
    assert set(tokens_by_key(samples)) == {report.primary_dek_id}


def test_rotation_keeps_updated_at(samples):
    seed(samples, 2)
    with samples.app_context():
        before = dict(db.session.execute(sa.select(Sample.id, Sample.updated_at)).all())
        db.session.commit()
        report = rotate_keys(samples.extensions["caseapp.cipher"])
        assert report.finished
        assert dict(db.session.execute(sa.select(Sample.id, Sample.updated_at)).all()) == before


def test_unreadable_value_is_reported_and_its_key_kept(samples):
    values = seed(samples, 2)
    broken = min(values)
    with samples.app_context():
        table = Sample.__table__
        token = db.session.scalar(sa.select(table.c.address_ct).where(table.c.id == broken))
        db.session.execute(  # the address token moved into the name column: E5
            sa.update(table).where(table.c.id == broken).values(full_name_ct=token)
        )
        db.session.commit()
        old = key_id_of(token)
        report = rotate_keys(samples.extensions["caseapp.cipher"])
    assert report.unreadable == [f"crypto_samples.full_name {broken}"]
    assert report.remaining == 1
    assert not report.finished
    assert old not in report.retired
    assert data_keys(samples)[old] == ("k1", False, False)


def test_rotation_without_data_and_then_again(samples):
    with samples.app_context():
        cipher = samples.extensions["caseapp.cipher"]
        first = rotate_keys(cipher)
        assert (first.finished, first.resumed, first.retired) == (True, False, [])
        second = rotate_keys(cipher)
        assert second.retired == [first.primary_dek_id]
        assert second.primary_dek_id != first.primary_dek_id


def test_a_retired_key_still_in_use_keeps_its_kek(samples, app_factory):
    seed(samples, 1)
    with samples.app_context():
        late = db.session.execute(sa.select(Sample.__table__)).one()._asdict()
        cipher = samples.extensions["caseapp.cipher"]
        db.session.execute(sa.delete(Sample.__table__))
        db.session.commit()
        first = rotate_keys(cipher, new_kek=True)  # k2; the first data key is retired
        (old,) = first.retired
        # A worker that had not seen the rotation saves a row under the retired key.
        db.session.execute(sa.insert(Sample.__table__).values(**late))
        db.session.commit()
        add_kek(cipher.keys)  # k3; live keys move under it, the retired one stays under k2
        rewrap_data_keys(cipher.keys)
        assert data_keys(samples)[old] == ("k2", False, True)
        with pytest.raises(KeyManagementError, match=f"k2 still protects data key.s. {old}"):
            retire_kek(cipher, "k2")
        finished = rotate_keys(cipher)
        assert finished.finished
        retire_kek(cipher, "k2")
        retire_kek(cipher, "k1")
    assert next(iter(read_all(app_factory()).values()))[0] == f"{NAME} 0"


def test_add_kek_writes_the_file_atomically_and_privately(app, instance_path):
    key_file = instance_path / "keys.json"
    before = load_keyring(key_file)
    os.chmod(key_file, 0o644)  # whatever it was, the new file is private
    with app.app_context():
        assert add_kek(app.extensions["caseapp.cipher"].keys) == "k2"
    after = load_keyring(key_file)
    assert after.keks["k1"] == before.keks["k1"]
    assert after.blind_index_key == before.blind_index_key
    assert after.primary_kek_id == "k2"
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in instance_path.iterdir()) == ["keys.json"]
