"""How long one sign-in's Argon2id derivation takes at each configured cost.

Production uses at least libsodium's MODERATE limits (about 1.3 s on 2 cores);
development uses INTERACTIVE; the test suite runs at the smallest limits so it stays fast.
Run with `make bench`.
"""

import time

from relay import crypto


def main() -> None:
    salt = crypto.new_salt()
    for name, limits in (("interactive", crypto.INTERACTIVE), ("moderate", crypto.MODERATE)):
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            crypto.derive_password_keys("a benchmark passphrase", salt, limits)
            runs.append(time.perf_counter() - start)
        print(f"{name:<12} best {min(runs):.3f} s  median {sorted(runs)[1]:.3f} s")


if __name__ == "__main__":
    main()
