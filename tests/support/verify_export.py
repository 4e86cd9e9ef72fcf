#!/usr/bin/env python3
"""Verify a `praxis audit export --format jsonl` file with nothing but the standard library.

Usage: verify_export.py FILE

Each line is a record; entry_hash must be the SHA-256 of the canonical JSON (sorted keys,
no spaces, UTF-8, RFC 8785 style) of the record's other fields; prev_hash must be the previous
entry_hash (64 zeros for the first); seq must count up from 0. Prints "ok N" and exits 0, or
"broken at seq N: why" and exits 1.
"""

import hashlib
import json
import sys


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def main(path):
    previous = "0" * 64
    count = 0
    with open(path, encoding="utf-8") as lines:
        for expected_seq, line in enumerate(lines):
            record = json.loads(line)
            if canonical(record) != line.rstrip("\n"):
                print(f"broken at seq {expected_seq}: the line is not in canonical form")
                return 1
            entry_hash = record.pop("entry_hash")
            if record.get("seq") != expected_seq:
                print(f"broken at seq {expected_seq}: the record says seq {record.get('seq')}")
                return 1
            if record.get("prev_hash") != previous:
                print(f"broken at seq {expected_seq}: prev_hash does not link")
                return 1
            if hashlib.sha256(canonical(record).encode("utf-8")).hexdigest() != entry_hash:
                print(f"broken at seq {expected_seq}: entry_hash does not match")
                return 1
            previous = entry_hash
            count += 1
    print(f"ok {count}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
