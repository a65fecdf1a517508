import hashlib

from console.specs import hashing


def test_statsig_hash__worked_example__first_eight_bytes_big_endian():
    # Given the rollout input of docs/statsig-spec.md §7
    text = "gate-salt-new-checkout.rule_half.user-42"

    # When it is hashed
    value = hashing.statsig_hash(text)

    # Then it is the big-endian u64 of the first 8 sha256 bytes
    assert value == 8275567543764648114
    assert value == int("72d8b8d5d0d800b2", 16)


def test_rollout_bucket__worked_example__8114_so_a_50_percent_rule_fails():
    # Given spec salt, rule salt and unit of the worked example
    # When the rollout bucket is computed
    bucket = hashing.rollout_bucket("gate-salt-new-checkout", "rule_half", "user-42")

    # Then it is 8114, outside a 50% (< 5000) rollout
    assert bucket == 8114
    assert not bucket < 50 * 100


def test_user_bucket__worked_example__layer_and_experiment_buckets():
    # Given the layer and experiment salts of the worked example
    # When user-42 is bucketed
    layer = hashing.user_bucket("implicit-layer-salt-checkout", "user-42")
    group = hashing.user_bucket("exp-salt-checkout", "user-42")

    # Then the buckets are 127 (allocated, < 800) and 179 (Control, < 500)
    assert (layer, group) == (127, 179)


def test_id_list_hash__worked_example__base64_sha256_prefix():
    # Given a unit ID from the beta list
    # When it is hashed for an ID list
    entry = hashing.id_list_hash("beta-tester-9")

    # Then it is the first 8 base64 characters of its sha256
    assert entry == "GBdxjFMo"


def test_djb2__gate_name__unsigned_32_bit_decimal():
    # Given a gate name / When djb2-hashed / Then it matches client-init's name hash
    assert hashing.djb2("new_checkout") == "4222855429"


def test_djb2__empty_and_unicode__stays_within_32_bits():
    # Given an empty and a non-ASCII string
    # When hashed
    empty, unicode = hashing.djb2(""), hashing.djb2("ünïcødé-用户" * 50)

    # Then both are unsigned 32-bit decimal strings
    assert empty == "0"
    assert 0 <= int(unicode) < 2**32


def test_statsig_hash__unicode_input__hashes_utf8_bytes():
    # Given a non-ASCII unit ID
    text = "salt.用户"

    # When hashed
    value = hashing.statsig_hash(text)

    # Then it equals the hash of its UTF-8 bytes
    assert value == int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
