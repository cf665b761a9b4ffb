"""SHA-256d for block headers: numba kernels over numpy arrays.

Knows nothing of the network. The public API:

- `sha256d(data)`: double SHA-256 of any bytes.
- `sha256d_headers(headers)`: (N, 80) uint8 -> (N, 32) uint8 digests.
- `hash_meets_target(headers, targets)`: bool (N,), hash as little-endian int <= target.
- `header_meets_target(header, target)`: one header, the fast path for a lone share.
- `scan_nonces(header76, target, start, count)`: nonces whose header meets the target.
- `kernel_rate(path)`: headers per second `surplus warm` measured for the path's kernel.

Which kernel serves each path is measured per CPU (`hashing.kernels`, `hashing.choice`).
"""

from hashing import cpu

cpu.prefer_512bit_vectors()  # before any kernel compiles

from hashing.batch import hash_meets_target, sha256d_headers  # noqa: E402
from hashing.kernels import KernelError  # noqa: E402
from hashing.scan import scan_nonces  # noqa: E402
from hashing.single import header_meets_target, sha256d  # noqa: E402


def kernel_rate(path: str) -> float | None:
    """Headers (or nonces) per second, one thread, of the kernel `path` uses, as `surplus
    warm` measured it on this CPU; None before it has, or when SURPLUS_HASH_KERNEL names a
    kernel (a bad name raises KernelError)."""
    from hashing import choice, kernels

    record = choice.load()
    if record is None or kernels.forced(path) is not None:
        return None
    return record.rates.get(path, {}).get(kernels.chosen(path).name)


__all__ = [
    "KernelError",
    "hash_meets_target",
    "header_meets_target",
    "kernel_rate",
    "scan_nonces",
    "sha256d",
    "sha256d_headers",
]
