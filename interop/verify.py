"""Verifies tower-callstats tokens with PyJWT + cryptography, independently of the crate.

    cargo run -q -p tower-callstats-tools --bin interop-tokens -- [NAME=KEY.pem]... > tokens.json
    python3 interop/verify.py tokens.json

Exits non-zero on any failure, including a negative control that passes.
"""

import base64
import json
import re
import sys

import cryptography
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

CLAIMS = {"appID", "exp", "iat", "jti", "keyID", "nbf", "userID"}
passed = 0
failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
    except Exception as error:  # noqa: BLE001 - every failure is reported and counted
        failed += 1
        print(f"FAIL {name}: {type(error).__name__}: {error}", file=sys.stderr)


def expect_rejected(fn, error_type):
    try:
        fn()
    except error_type:
        return
    raise AssertionError(f"accepted a token it must reject (expected {error_type.__name__})")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["userID"] = "admin"
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


def verify_token(token, public_key, expect):
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256", header
    assert header["kid"] == expect["keyID"], header
    claims = jwt.decode(
        token,
        public_key,
        algorithms=["ES256"],
        options={"require": ["exp", "iat", "nbf"], "verify_aud": False},
    )
    wanted = CLAIMS | ({"confID"} if "confID" in expect else set())
    assert set(claims) == wanted, f"claims {sorted(claims)} != {sorted(wanted)}"
    assert isinstance(claims["userID"], str)
    assert claims["userID"].encode("utf-8").hex() == expect["userIDHex"], "userID bytes"
    assert claims["userID"] == expect["userID"], "userID"
    assert isinstance(claims["appID"], str) and claims["appID"] == expect["appID"], claims["appID"]
    assert claims["keyID"] == expect["keyID"]
    if "confID" in expect:
        assert claims["confID"].encode("utf-8").hex() == expect["confIDHex"], "confID bytes"
    for name in ("iat", "nbf", "exp"):
        assert type(claims[name]) is int, f"{name} is not an integer"
    assert claims["nbf"] <= claims["iat"] < claims["exp"], "nbf <= iat < exp"
    assert re.fullmatch(r"[0-9a-f]{32}", claims["jti"]), claims["jti"]


def main(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    other_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    formats = set()
    for key in doc["keys"]:
        formats.add(key["format"])
        pem_key = serialization.load_pem_public_key(key["publicKeyPem"].encode("ascii"))
        jwk_key = jwt.PyJWK.from_dict(key["jwk"]).key

        def same_key(key=key, pem_key=pem_key, jwk_key=jwk_key):
            assert isinstance(pem_key, ec.EllipticCurvePublicKey) and pem_key.curve.name == "secp256r1"
            assert pem_key.public_numbers() == jwk_key.public_numbers(), "PEM and JWK differ"
            if key["keyFile"]:
                # The private key file, read by cryptography (SEC1 or PKCS8), has the
                # public key the crate published.
                with open(key["keyFile"], "rb") as f:
                    private = serialization.load_pem_private_key(f.read(), password=None)
                assert private.public_key().public_numbers() == pem_key.public_numbers(), "key file mismatch"

        check(f"{key['name']}: public PEM, JWK and key file agree", same_key)

        for item in key["tokens"]:
            token, expect = item["token"], item["expect"]
            label = f"{key['name']} ({key['format']}) userID {expect['userID'][:20]!r}"
            check(f"{label}: verifies (PEM)", lambda t=token, e=expect: verify_token(t, pem_key, e))
            check(f"{label}: verifies (JWK)", lambda t=token, e=expect: verify_token(t, jwk_key, e))
            check(
                f"{label}: tampered userID is rejected",
                lambda t=token: expect_rejected(
                    lambda: jwt.decode(tamper(t), pem_key, algorithms=["ES256"]), jwt.InvalidSignatureError
                ),
            )
            check(
                f"{label}: another key is rejected",
                lambda t=token: expect_rejected(
                    lambda: jwt.decode(t, other_key, algorithms=["ES256"]), jwt.InvalidSignatureError
                ),
            )
            check(
                f"{label}: HS256-only verifier is rejected",
                lambda t=token: expect_rejected(
                    lambda: jwt.decode(t, "secret", algorithms=["HS256"]), jwt.InvalidAlgorithmError
                ),
            )

    def both_formats():
        assert {"sec1", "pkcs8"} <= formats, f"formats {sorted(formats)}"

    check("key formats covered: sec1 and pkcs8", both_formats)
    print(f"PyJWT {jwt.__version__}, cryptography {cryptography.__version__}")
    print(f"interop-python: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/dev/stdin"))
