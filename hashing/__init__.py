"""SHA-256d for block headers: numba kernels over numpy arrays.

Knows nothing of the network. The public API:

- `sha256d(data)`: double SHA-256 of any bytes.
- `sha256d_headers(headers)`: (N, 80) uint8 -> (N, 32) uint8 digests.
- `hash_meets_target(headers, targets)`: bool (N,), hash as little-endian int <= target.
- `header_meets_target(header, target)`: one header, the fast path for a lone share.
- `scan_nonces(header76, target, start, count)`: nonces whose header meets the target.
"""

from hashing import cpu

cpu.prefer_512bit_vectors()  # before any kernel compiles

from hashing.batch import hash_meets_target, sha256d_headers  # noqa: E402
from hashing.scan import scan_nonces  # noqa: E402
from hashing.single import header_meets_target, sha256d  # noqa: E402

__all__ = [
    "hash_meets_target",
    "header_meets_target",
    "scan_nonces",
    "sha256d",
    "sha256d_headers",
]
