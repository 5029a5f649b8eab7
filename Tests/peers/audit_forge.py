"""An attacker with write access to a ledger file: edits one audit record, then recomputes the chain from there on,
as clawc's chain format says (SHA-256, or HMAC-SHA256 under a key the attacker guesses or stole), so that every link
holds again. Also an independent reading of the chain format for the tests.

    python3 audit_forge.py LEDGER SEQ [--key FILE]
"""
import hashlib, hmac, sqlite3, sys


def digest(fields, key):
    text = "\n".join(fields).encode()
    if key is None:
        return hashlib.sha256(text).hexdigest()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def main():
    path, seq = sys.argv[1], int(sys.argv[2])
    key = None
    if "--key" in sys.argv:
        key = open(sys.argv[sys.argv.index("--key") + 1], "rb").read().rstrip(b" \t\r\n\v\f")
    db = sqlite3.connect(path)
    rows = db.execute("SELECT seq, at, event, task_id, detail FROM audit ORDER BY seq").fetchall()
    prev = "0" * 64
    for number, at, event, task, detail in rows:
        if number == seq:
            detail = detail.replace("}", ',"forged":"yes"}') if detail != "{}" else '{"forged":"yes"}'
        if number >= seq:
            new = digest([str(number), str(at), event, task or "", detail, prev], key)
            db.execute("UPDATE audit SET detail = ?, prev = ?, hash = ? WHERE seq = ?", (detail, prev, new, number))
            prev = new
        else:
            prev = db.execute("SELECT hash FROM audit WHERE seq = ?", (number,)).fetchone()[0]
    db.commit()


main()
