"""FieldCipher: tokens, associated data, data keys in the database, failing closed (E2–E5, E7)."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import unicodedata
import uuid

import pytest
import sqlalchemy as sa

from caseapp import create_app
from caseapp.config import ConfigError
from caseapp.crypto import DecryptionError, FieldCipher, key_id_of
from caseapp.extensions import db
from caseapp.keys import DataKey, KeyRing, load_keyring, replace_private_file
from tests.conftest import base_overrides
from tests.crypto.models import ADDR, CCCD, NAME

# Every Vietnamese vowel with every tone, both cases, and đ/Đ.
VOWELS = "aăâeêioôơuưy"
TONES = "\u0300\u0301\u0303\u0309\u0323"  # huyền, sắc, ngã, hỏi, nặng
LETTERS = "".join(
    unicodedata.normalize("NFC", v + t) for v in VOWELS + VOWELS.upper() for t in ("", *TONES)
)
VIETNAMESE = f"{LETTERS} đĐ {NAME} {ADDR}"
TOKEN = re.compile(r"v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+")
WHERE = {"table": "crypto_samples", "column": "full_name"}


def cipher_of(app) -> FieldCipher:
    return app.extensions["caseapp.cipher"]


def row() -> str:
    return str(uuid.uuid4())


def data_keys() -> list[DataKey]:
    return list(db.session.scalars(sa.select(DataKey).order_by(DataKey.created_at)))


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_round_trip_every_tone_mark_stored_nfc(app, form):
    text = unicodedata.normalize(form, VIETNAMESE)
    assert len(LETTERS) == 2 * len(VOWELS) * 6
    with app.app_context():
        cipher, uid = cipher_of(app), row()
        token = cipher.encrypt(text, **WHERE, row_uuid=uid)
        db.session.commit()
        assert TOKEN.fullmatch(token)
        assert cipher.decrypt(token, **WHERE, row_uuid=uid) == unicodedata.normalize("NFC", text)
        assert cipher.encrypt(None, **WHERE, row_uuid=uid) is None
        assert cipher.decrypt(None, **WHERE, row_uuid=uid) is None


@pytest.mark.plan("E2")
def test_same_value_gives_different_tokens_under_one_primary_key(app):
    with app.app_context():
        cipher, uid = cipher_of(app), row()
        tokens = {cipher.encrypt(CCCD, **WHERE, row_uuid=uid) for _ in range(20)}
        db.session.commit()
        assert len(tokens) == 20
        (only,) = data_keys()
        assert {key_id_of(t) for t in tokens} == {only.id}
        assert (only.is_primary, only.kek_id, only.retired_at) == (True, "k1", None)
        assert re.fullmatch(r"[0-9a-f]{8}", only.id)


def test_primary_data_key_is_shared_by_apps_and_kept_after_restart(app_factory):
    first, second = app_factory(), app_factory()
    uid = row()
    with first.app_context():
        token = cipher_of(first).encrypt(NAME, **WHERE, row_uuid=uid)
        db.session.commit()
    with second.app_context():
        assert cipher_of(second).keys.check() == 1
        assert cipher_of(second).decrypt(token, **WHERE, row_uuid=uid) == NAME
        again = cipher_of(second).encrypt(NAME, **WHERE, row_uuid=uid)
        db.session.commit()
        assert key_id_of(again) == key_id_of(token)
        assert len(data_keys()) == 1


def test_two_workers_creating_the_first_key_at_once_share_one(app_factory):
    first, second = app_factory(), app_factory()
    found: list[str] = []

    def other_worker() -> None:
        with second.app_context():
            # PostgreSQL: the INSERT waits for the first worker, then loses on the one-primary
            # index and takes the winner's key. SQLite: BEGIN IMMEDIATE waits instead.
            found.append(cipher_of(second).encrypt(NAME, **WHERE, row_uuid=row()) or "")
            db.session.commit()

    with first.app_context():
        mine = cipher_of(first).encrypt(NAME, **WHERE, row_uuid=row())  # key created, uncommitted
        thread = threading.Thread(target=other_worker)
        thread.start()
        time.sleep(0.5)
        db.session.commit()
    thread.join(timeout=30)
    assert [key_id_of(t) for t in found] == [key_id_of(mine)]
    with first.app_context():
        assert len(data_keys()) == 1


def test_a_rolled_back_primary_key_is_not_used_afterwards(app_factory):
    app = app_factory()
    uid = row()
    with app.app_context():
        lost = cipher_of(app).encrypt(NAME, **WHERE, row_uuid=uid)
        db.session.rollback()  # the new data key's row is gone with the transaction
        kept = cipher_of(app).encrypt(NAME, **WHERE, row_uuid=uid)
        db.session.commit()
        assert key_id_of(kept) != key_id_of(lost)
        assert [k.id for k in data_keys()] == [key_id_of(kept)]
    with app_factory().app_context() as ctx:
        assert cipher_of(ctx.app).decrypt(kept, **WHERE, row_uuid=uid) == NAME


def test_at_most_one_primary_in_the_database(app):
    with app.app_context():
        cipher_of(app).encrypt(NAME, **WHERE, row_uuid=row())
        db.session.commit()
        db.session.add(DataKey(id="0badc0de", wrapped="x", kek_id="k1", is_primary=True))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()


def _flip(text: str, index: int) -> str:
    return text[:index] + chr(ord(text[index]) ^ 1) + text[index + 1 :]


@pytest.mark.plan("E3")
def test_every_altered_character_or_byte_is_detected(app):
    with app.app_context():
        cipher, uid = cipher_of(app), row()
        token = cipher.encrypt(ADDR, **WHERE, row_uuid=uid)
        db.session.commit()
        for index in range(len(token)):
            with pytest.raises(DecryptionError):
                cipher.decrypt(_flip(token, index), **WHERE, row_uuid=uid)
        head, payload = token.rsplit(".", 1)
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        for index in (0, 11, 12, len(raw) - 17, len(raw) - 1):  # nonce, ciphertext, tag
            altered = bytearray(raw)
            altered[index] ^= 0x80
            forged = f"{head}.{base64.urlsafe_b64encode(altered).rstrip(b'=').decode()}"
            with pytest.raises(DecryptionError, match="integrity check failed"):
                cipher.decrypt(forged, **WHERE, row_uuid=uid)
        for forged in (token + "A", token[:-4], f"{head}.", "v2" + token[2:], "", ADDR):
            with pytest.raises(DecryptionError):
                cipher.decrypt(forged, **WHERE, row_uuid=uid)


@pytest.mark.plan("E4", "E5")
@pytest.mark.parametrize(
    "elsewhere",
    [
        {"row_uuid": "other"},
        {"column": "address"},
        {"table": "cases"},
    ],
    ids=["another row", "another column", "another table"],
)
def test_token_moved_elsewhere_does_not_decrypt(app, elsewhere):
    with app.app_context():
        cipher, uid = cipher_of(app), row()
        token = cipher.encrypt(NAME, **WHERE, row_uuid=uid)
        db.session.commit()
        where = {**WHERE, "row_uuid": uid, **elsewhere}
        if where["row_uuid"] == "other":
            where["row_uuid"] = row()
        with pytest.raises(DecryptionError) as caught:
            cipher.decrypt(token, **where)
        message = str(caught.value)
        assert key_id_of(token) in message
        assert where["column"] in message
        assert NAME not in message
        assert uid not in message


def test_unknown_data_key_fails_and_names_only_the_key(app):
    with app.app_context():
        cipher, uid = cipher_of(app), row()
        token = cipher.encrypt(NAME, **WHERE, row_uuid=uid)
        db.session.commit()
        forged = token.replace(key_id_of(token), "00000000", 1)
        with pytest.raises(DecryptionError, match="data key 00000000 is not in the database"):
            cipher.decrypt(forged, **WHERE, row_uuid=uid)


def _write_keys(instance, keyring: KeyRing) -> None:
    replace_private_file(instance / "keys.json", keyring.to_json())


@pytest.mark.plan("E7")
@pytest.mark.parametrize("problem", ["wrong KEK", "KEK missing"])
def test_wrong_or_missing_kek_fails_closed_and_writes_nothing(app_factory, instance_path, problem):
    app = app_factory()
    uid = row()
    with app.app_context():
        token = cipher_of(app).encrypt(NAME, **WHERE, row_uuid=uid)
        db.session.commit()
        before = [(k.id, k.wrapped, k.kek_id) for k in data_keys()]
    good = load_keyring(instance_path / "keys.json")
    if problem == "wrong KEK":  # same id, other bytes: e.g. another installation's key file
        bad = KeyRing("k1", {"k1": bytes(32)}, good.blind_index_key)
        expected = "cannot be unwrapped with key-encryption key k1"
    else:
        bad = KeyRing("k2", {"k2": bytes(32)}, good.blind_index_key)
        expected = "wrapped by key-encryption key k1, which is not in the key file"
    _write_keys(instance_path, bad)
    other = app_factory()
    with other.app_context():
        cipher = cipher_of(other)
        with pytest.raises(DecryptionError, match=expected):
            cipher.decrypt(token, **WHERE, row_uuid=uid)
        with pytest.raises(DecryptionError, match=expected):  # no new key, nothing written
            cipher.encrypt("mới", **WHERE, row_uuid=uid)
        with pytest.raises(DecryptionError, match=expected):  # what a start-up check would say
            cipher.keys.check()
        db.session.rollback()
        assert [(k.id, k.wrapped, k.kek_id) for k in data_keys()] == before


@pytest.mark.plan("E7")
def test_missing_key_file_stops_start_up(database_url, instance_path):
    (instance_path / "keys.json").unlink()
    with pytest.raises(ConfigError, match="is missing"):
        create_app(base_overrides(database_url), instance_path=instance_path)


def test_a_new_kek_in_the_key_file_is_picked_up_without_restart(app_factory, instance_path):
    running = app_factory()
    with running.app_context():
        cipher_of(running).encrypt(NAME, **WHERE, row_uuid=row())  # caches the k1 keyring
        db.session.commit()
    keyring = load_keyring(instance_path / "keys.json").with_new_kek()
    _write_keys(instance_path, keyring)
    with app_factory().app_context() as ctx:  # as rotate-keys would: a new primary under k2
        cipher_of(ctx.app).keys.create_primary(demote=True)
        db.session.commit()
    uid = row()
    with running.app_context():
        token = cipher_of(running).encrypt(NAME, **WHERE, row_uuid=uid)
        db.session.commit()
        assert cipher_of(running).decrypt(token, **WHERE, row_uuid=uid) == NAME
        assert [k.kek_id for k in data_keys()] == ["k1", "k2"]
        assert key_id_of(token) == data_keys()[1].id


def test_no_key_material_in_reprs_or_key_file_json(app, instance_path):
    keyring = load_keyring(instance_path / "keys.json")
    with app.app_context():
        cipher = cipher_of(app)
        cipher.encrypt(NAME, **WHERE, row_uuid=row())
        db.session.commit()
        (key,) = data_keys()
        dek = cipher.keys.get(key.id)
        shown = " ".join([repr(keyring), repr(cipher), repr(cipher.keys), repr(key)])
    secrets_b64 = [base64.b64encode(k).decode() for k in (*keyring.keks.values(), dek)]
    for secret in [*secrets_b64, keyring.blind_index_key.hex(), dek.hex()]:
        assert secret not in shown
    assert key.wrapped not in shown
    assert json.loads(keyring.to_json())["kek"]["primary"] == "k1"
