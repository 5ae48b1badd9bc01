"""EncryptedField / EncryptedDateField on a model: assignment encrypts, reading decrypts."""

from __future__ import annotations

import pickle
import unicodedata
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from caseapp.crypto import DecryptionError, key_id_of
from caseapp.extensions import db
from caseapp.keys import ENCRYPTED_COLUMNS
from tests.crypto.models import ADDR, CCCD, DOB, NAME, Sample, make_sample


def _raw(sample_id: int, column: str) -> str | None:
    table = Sample.__table__
    return db.session.execute(
        sa.select(table.c[column]).where(table.c.id == sample_id)
    ).scalar_one()


def test_assignment_encrypts_and_reading_decrypts(samples):
    with samples.app_context():
        sample = make_sample(
            full_name=unicodedata.normalize("NFD", NAME),
            national_id=CCCD,
            address=ADDR,
            date_of_birth=DOB,
        )
        db.session.add(sample)
        db.session.commit()
        sample_id = sample.id
        assert sample.full_name == NAME  # stored and returned NFC
    with samples.app_context():
        loaded = db.session.get(Sample, sample_id)
        assert (loaded.full_name, loaded.national_id, loaded.address) == (NAME, CCCD, ADDR)
        assert loaded.date_of_birth == DOB
        assert isinstance(loaded.date_of_birth, date)
        for column in ("full_name_ct", "national_id_ct", "address_ct", "date_of_birth_ct"):
            assert _raw(sample_id, column).startswith("v1.")
        loaded.address = None
        db.session.commit()
        assert _raw(sample_id, "address_ct") is None
        assert loaded.address is None


def test_uuid_must_be_set_first(samples):
    with samples.app_context():
        sample = Sample()
        with pytest.raises(ValueError, match=r"Sample\.uuid must be set before full_name"):
            sample.full_name = NAME
        assert sample.full_name_ct is None


def test_wrong_types_refused(samples):
    with samples.app_context():
        sample = make_sample()
        with pytest.raises(TypeError, match="takes text"):
            sample.full_name = 12345
        with pytest.raises(TypeError, match="takes a date"):
            sample.date_of_birth = datetime(2006, 3, 14)  # noqa: DTZ001 -- the type is the point
        with pytest.raises(TypeError, match="takes a date"):
            sample.date_of_birth = "2006-03-14"


def test_same_value_again_writes_nothing(samples):
    with samples.app_context():
        sample = make_sample(full_name=NAME, date_of_birth=DOB)
        db.session.add(sample)
        db.session.commit()
        token, version = sample.full_name_ct, sample.version
        sample.full_name = unicodedata.normalize("NFD", NAME)  # the same name, typed otherwise
        sample.date_of_birth = date(2006, 3, 14)
        assert not db.session.dirty
        db.session.commit()
        assert (sample.full_name_ct, sample.version) == (token, version)
        sample.full_name = "Trần Thị B"
        db.session.commit()
        assert sample.full_name_ct != token
        assert sample.version == version + 1


def test_cache_follows_the_stored_token(samples, app_factory):
    other = app_factory()  # another worker, changing the name meanwhile

    def rename(sample_id: int, name: str) -> None:
        with other.app_context():
            db.session.get(Sample, sample_id).full_name = name
            db.session.commit()

    with samples.app_context():
        sample = make_sample(full_name=NAME, address=ADDR)
        db.session.add(sample)
        db.session.commit()
        assert sample.full_name == NAME
        sample_id = sample.id
        db.session.commit()  # ends the read (SQLite's writers wait for readers' BEGIN IMMEDIATE)
        rename(sample_id, "Lê Văn C")
        assert sample.full_name == "Lê Văn C"  # expired at commit, reloaded, decrypted again
        db.session.commit()
        rename(sample_id, "Phạm Văn D")
        db.session.refresh(sample)
        assert sample.full_name == "Phạm Văn D"
        db.session.commit()
        rename(sample_id, "Vũ Thị E")
        db.session.expire(sample)
        assert sample.full_name == "Vũ Thị E"
        sample.full_name_ct = sample.address_ct  # any change of the token drops the cached value
        with pytest.raises(DecryptionError):
            _ = sample.full_name
        db.session.rollback()


@pytest.mark.plan("E3")
def test_tampered_column_raises_on_read(samples):
    with samples.app_context():
        first, second = make_sample(full_name=NAME, address=ADDR), make_sample(full_name="X")
        db.session.add_all([first, second])
        db.session.commit()
        table = Sample.__table__
        db.session.execute(  # E4: A's name moved to B; E5: A's address moved to A's name
            sa.update(table).where(table.c.id == second.id).values(full_name_ct=first.full_name_ct)
        )
        db.session.execute(
            sa.update(table).where(table.c.id == first.id).values(full_name_ct=first.address_ct)
        )
        db.session.commit()
        for sample in (first, second):
            with pytest.raises(DecryptionError, match=r"crypto_samples\.full_name") as caught:
                _ = sample.full_name
            assert NAME not in str(caught.value)
            assert ADDR not in str(caught.value)
        first.full_name = "Ghi đè"  # an unreadable value may be overwritten with a new one
        assert first.full_name == "Ghi đè"


def test_plaintext_stays_off_the_instance(samples):
    with samples.app_context():
        sample = make_sample(full_name=NAME, address=ADDR)
        assert sample.full_name == NAME
        assert NAME not in repr(sample)
        assert NAME not in repr(vars(sample))
        assert NAME.encode() not in pickle.dumps(sample)


def test_encrypted_attributes_cannot_be_queried_by_mistake(samples):
    with pytest.raises(TypeError, match="blind index"):
        sa.select(Sample).where(Sample.full_name == NAME)
    assert "crypto_samples.full_name" in repr(Sample.full_name)


def test_every_encrypted_attribute_is_registered():
    ours = {(c.field, c.ciphertext_attr) for c in ENCRYPTED_COLUMNS if c.model is Sample}
    assert ours == {
        ("full_name", "full_name_ct"),
        ("national_id", "national_id_ct"),
        ("address", "address_ct"),
        ("date_of_birth", "date_of_birth_ct"),
    }


@pytest.mark.plan("E5")
def test_tokens_bound_to_the_attribute_name(samples):
    with samples.app_context():
        sample = make_sample(full_name=NAME)
        cipher = samples.extensions["caseapp.cipher"]
        where = {"table": "crypto_samples", "row_uuid": sample.uuid}
        assert cipher.decrypt(sample.full_name_ct, column="full_name", **where) == NAME
        assert key_id_of(sample.full_name_ct)
        db.session.rollback()
